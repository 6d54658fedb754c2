#!/usr/bin/env python3
"""Write tests/data/addressed_complaints.csv: complaint texts with the place each one names.

    python tests/data/make_addressed_complaints.py

Expectations are computed from the demo city (data/demo/gazetteer.csv, grids.geojson), never
guessed: a house number is placed by linear interpolation between the road's start and end over
num_from..num_to; an intersection is the crossing point of the two road segments; a landmark or
building is its point. Each such point gives `cell` + the 15-digit code of the cell that contains
it (points closer than 3 m to a cell edge are not used, so the answer is never an edge case).
Texts naming a 社区 or a 小区 only give `community` + its 12-digit code; texts without a usable
place (and texts naming only a whole road or a whole 街道) give `askback` with no code.
"""
from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import shapely
from shapely.geometry import LineString, Point, shape

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
OUT = Path(__file__).resolve().parent / "addressed_complaints.csv"
SEED = 12345
MIN_EDGE_M = 3.0
KX, KY = 111_320.0 * math.cos(math.radians(39.91)), 111_035.0

ISSUES = [
    "垃圾堆了好几天没人清", "有个井盖丢了，晚上特别危险", "路灯坏了一个星期了，晚上黑乎乎的",
    "有人占道摆摊卖菜", "门口乱停车，消防通道都堵死了", "工地晚上施工噪音太大，吵得睡不着",
    "墙上贴满了小广告", "共享单车堆成山，人都过不去", "下水道堵了，污水漫到路上",
    "雨后积水很深，车都过不去", "树枝断了挂在半空，随时会掉下来", "饭馆油烟直接往居民楼里排",
    "有人私搭乱建，盖了个棚子", "人行道地砖碎了好几块，老人容易摔倒", "护栏被撞坏了一直没修",
    "垃圾桶满了往外溢，臭气熏天", "有人在路边烧烤，烟很大", "沿街晾衣服，挡住了路",
    "有流浪狗咬人", "渣土车撒了一路土", "窨井盖松动，车一过就哐哐响", "公厕没人打扫，脏得进不去",
    "有人遛狗不牵绳", "废品收购站占了半条路", "店家把桌子摆到了人行道上",
    "路面塌了一个坑", "自来水管爆了，水一直往外冒", "空调外机滴水，路人被淋",
    "绿地被人踩秃了还堆了建筑垃圾", "凌晨有商户卸货，噪音扰民",
]
ISSUE_TYPOS = {"垃圾": "拉圾", "噪音": "燥音", "反映": "反应", "已经": "以经", "再": "在"}

NO_PLACE = [
    "我家楼下垃圾没人收", "小区门口老有人乱停车", "楼道里的灯坏了好久了", "隔壁装修天天吵，周末也不停",
    "你们管不管啊，投诉好几次了", "路灯不亮", "有人在马路边卖水果", "下水道反味儿，臭死了",
    "我要投诉一下乱贴小广告的", "楼上漏水到我家了", "有人遛狗不拴绳，吓到孩子了", "附近工地半夜还在干活",
    "垃圾桶都满了也没人倒", "门口那条路坑坑洼洼的", "外卖电动车把人行道占满了", "楼下饭馆油烟太大",
    "这边井盖没了，谁来管管", "公园里的健身器材坏了", "树上的马蜂窝谁来处理一下", "有人在绿地里种菜",
    "市民来电反映：其居住地附近有人焚烧垃圾，请核实处理。", "来电人称家门口积水严重，未说明具体位置。",
    "市民反映路边有废弃自行车长期无人清理，地址不详。", "来电反映夜间施工扰民，来电人不愿透露地址。",
    "我们这儿又停电了", "请问垃圾分类怎么分", "你好，我想问一下办居住证去哪儿", "我对上次的处理结果不满意",
    "查询一下我的工单进度", "早上有人在街上吵架", "马路对面有个坑", "胡同里的公厕又堵了",
    "有人把沙发扔在路边", "这条街的井盖响得厉害", "地铁口有人发传单", "小区里私搭乱建没人管",
    "暖气不热，家里才十五度", "有个大货车一直停在路边", "路口的红绿灯坏了", "有人占用了消防通道",
]

OPENERS = ["", "", "", "你好，", "您好，", "喂，", "麻烦问一下，", "投诉：", "反映个问题，"]
HOTLINE = ["市民来电反映：{p}{i}，请尽快处理。", "来电人称{p}{i}，要求相关部门处理。",
           "市民反映{p}{i}，已多次反映未解决。", "工单：{p}{i}。"]
SMS = ["{o}{p}{i}", "{o}{p}{i}，麻烦尽快处理", "{o}{p}{i}！！", "{o}{p}这边{i}", "{o}在{p}，{i}",
       "{o}{p}{i}，谢谢", "{o}{p}那儿{i}，有人管吗", "{o}{p}{i}，都好几天了"]

# a small simplified → traditional map, enough for the place names used here
TRAD = str.maketrans({
    "东": "東", "门": "門", "号": "號", "区": "區", "医": "醫", "楼": "樓", "车": "車", "条": "條",
    "桥": "橋", "单": "單", "华": "華", "场": "場", "园": "園", "坛": "壇", "龙": "龍", "乐": "樂",
    "广": "廣", "锣": "鑼", "国": "國", "协": "協", "这": "這", "边": "邊",
    "没": "沒", "处": "處", "时": "時", "灯": "燈", "坏": "壞", "乱": "亂", "丢": "丟",
    "脏": "髒", "问": "問", "题": "題", "们": "們", "谢": "謝", "几": "幾", "个": "個", "盖": "蓋",
    "对": "對", "诉": "訴", "说": "說", "积": "積", "摊": "攤", "卖": "賣",
    "仓": "倉", "兴": "興", "贸": "貿", "书": "書", "馆": "館", "剧": "劇", "宫": "宮", "庙": "廟",
})


def load():
    features = json.loads((DEMO / "grids.geojson").read_text(encoding="utf-8"))["features"]
    geoms = [shape(f["geometry"]) for f in features]
    with open(DEMO / "gazetteer.csv", encoding="utf-8") as fh:
        gaz = list(csv.DictReader(fh))
    with open(DEMO / "divisions.csv", encoding="utf-8") as fh:
        comm_code = {r["name"]: r["code"] for r in csv.DictReader(fh) if r["level"] == "community"}
    return features, geoms, gaz, comm_code


class Cells:
    def __init__(self, features, geoms):
        self.features, self.geoms = features, geoms
        self.tree = shapely.STRtree(geoms)

    def code_at(self, lon, lat):
        """The cell code at a point, or None when outside or within MIN_EDGE_M of an edge."""
        p = Point(lon, lat)
        hits = self.tree.query(p, predicate="covered_by")
        if len(hits) != 1:
            return None
        g = self.geoms[int(hits[0])]
        # distance to the edge in metres: scale the local neighbourhood to a metric plane
        ring = shapely.transform(g.exterior, lambda a: (a - (lon, lat)) * (KX, KY))
        if ring.distance(Point(0, 0)) < MIN_EDGE_M:
            return None
        return self.features[int(hits[0])]["properties"]["code"]


def names_of(row):
    return [row["name"]] + [a for a in row["aliases"].split("|") if a]


def say(rng, place, issue, hotline_share=0.25):
    if rng.random() < hotline_share:
        return rng.choice(HOTLINE).format(p=place, i=issue)
    return rng.choice(SMS).format(o=rng.choice(OPENERS), p=place, i=issue)


def issue(rng):
    text = rng.choice(ISSUES)
    if rng.random() < 0.08:
        for a, b in ISSUE_TYPOS.items():
            if a in text:
                return text.replace(a, b, 1)
    return text


def house_numbers(rng, roads, cells, n):
    rows = []
    numbered = [r for r in roads if r["num_from"]]
    for k in range(n * 3):
        if len(rows) >= n:
            break
        r = numbered[k % len(numbered)] if k < len(numbered) else rng.choice(numbered)
        lo, hi = int(r["num_from"]), int(r["num_to"])
        num = rng.randint(lo + 1, hi - 1)
        t = (num - lo) / (hi - lo)
        lon = float(r["lon"]) + t * (float(r["lon2"]) - float(r["lon"]))
        lat = float(r["lat"]) + t * (float(r["lat2"]) - float(r["lat"]))
        code = cells.code_at(lon, lat)
        if code is None:
            continue
        name = rng.choice(names_of(r)) if rng.random() < 0.3 else r["name"]
        style = rng.random()
        if style < 0.15:
            place = f"{name}{num}号院"
        elif style < 0.25:
            place = f"东城区{name}{num}号"
        elif style < 0.32:
            place = f"{name}{str(num).translate(str.maketrans('0123456789', '０１２３４５６７８９'))}号"
        elif style < 0.42:
            place = f"{name}{num}号门口"
        elif style < 0.50:
            place = f"{name}{num}号楼下"
        else:
            place = f"{name}{num}号"
        rows.append((say(rng, place, issue(rng)), "cell", code))
    return rows


def angle(a, b):
    """Angle in degrees (0..90) between two segments, on the local metric plane."""
    (x1, y1), (x2, y2) = a.coords
    (x3, y3), (x4, y4) = b.coords
    t1 = math.atan2((y2 - y1) * KY, (x2 - x1) * KX)
    t2 = math.atan2((y4 - y3) * KY, (x4 - x3) * KX)
    d = abs(math.degrees(t1 - t2)) % 180
    return min(d, 180 - d)


def intersections(rng, roads, cells, n):
    pairs = []
    for i, a in enumerate(roads):
        la = LineString([(float(a["lon"]), float(a["lat"])), (float(a["lon2"]), float(a["lat2"]))])
        for b in roads[i + 1:]:
            lb = LineString([(float(b["lon"]), float(b["lat"])), (float(b["lon2"]), float(b["lat2"]))])
            x = la.intersection(lb)
            if x.geom_type == "Point" and angle(la, lb) > 30:   # a real crossing, not a continuation
                pairs.append((a, b, x))
    rng.shuffle(pairs)
    forms = ["{a}与{b}交叉口", "{a}和{b}路口", "{a}、{b}十字路口", "{a}跟{b}交界的地方",
             "{a}{b}路口", "{a}与{b}交汇处", "{a}和{b}拐角"]
    rows = []
    for a, b, x in pairs:
        if len(rows) >= n:
            break
        code = cells.code_at(x.x, x.y)
        if code is None:
            continue
        if rng.random() < 0.5:
            a, b = b, a
        place = rng.choice(forms).format(a=a["name"], b=b["name"])
        rows.append((say(rng, place, issue(rng)), "cell", code))
    return rows


def landmarks(rng, places, cells, n):
    rows = []
    forms = ["{x}门口", "{x}对面", "{x}附近", "{x}旁边", "{x}边上", "{x}南门", "{x}北门", "{x}西门",
             "{x}后面", "{x}那块儿", "{x}外面的马路上", "{x}出来往左一点"]
    pool = places * 3
    rng.shuffle(pool)
    seen = set()
    for r in pool:
        if len(rows) >= n:
            break
        code = cells.code_at(float(r["lon"]), float(r["lat"]))
        if code is None:
            continue
        name = rng.choice(names_of(r))
        form = rng.choice(forms)
        if name.endswith("站") and form in ("{x}南门", "{x}北门", "{x}西门"):
            form = "{x}A口"
        place = form.format(x=name)
        if place in seen:
            continue
        seen.add(place)
        rows.append((say(rng, place, issue(rng)), "cell", code))
    return rows


def xiaoqu(rng, places, comm_code, n):
    rows = []
    for r in (places * 2)[:n]:
        name = rng.choice(names_of(r))
        suffix = "" if name.endswith(("小区", "里", "园", "苑", "城", "公馆")) else "小区"
        bld, unit = rng.randint(1, 18), rng.randint(1, 6)
        place = rng.choice([f"{name}{suffix}{bld}号楼{unit}单元", f"{name}{suffix}{bld}号楼下",
                            f"{name}{suffix}里面", f"{name}{suffix}门口", f"{name}{suffix}{bld}号楼"])
        rows.append((say(rng, place, issue(rng)), "community", comm_code[r["community"]]))
    return rows


def communities(rng, comms, comm_code, n):
    rows = []
    for r in rng.sample(comms, n):
        s = r["street"]
        place = rng.choice([f"{s}{r['name']}", f"{r['name']}", f"{s}{r['name']}辖区内",
                            f"我是{r['name']}的居民，我们社区", f"{r['name']}这片儿"])
        rows.append((say(rng, place, issue(rng)), "community", comm_code[r["name"]]))
    return rows


def too_vague(rng, roads, streets):
    rows = []
    for r in rng.sample([r for r in roads if r["num_from"]], 8):
        rows.append((say(rng, f"{r['name']}上", issue(rng)), "askback", ""))
    for r in rng.sample(streets, 6):
        rows.append((say(rng, f"{r['name']}这边", issue(rng)), "askback", ""))
    return rows


def main():
    rng = random.Random(SEED)
    features, geoms, gaz, comm_code = load()
    cells = Cells(features, geoms)
    roads = [r for r in gaz if r["kind"] == "road"]
    points = [r for r in gaz if r["kind"] in ("landmark", "building")]
    xq = [r for r in gaz if r["kind"] == "xiaoqu"]
    comms = [r for r in gaz if r["kind"] == "community"]
    streets = [r for r in gaz if r["kind"] == "street"]
    rows = (house_numbers(rng, roads, cells, 95) + intersections(rng, roads, cells, 50)
            + landmarks(rng, points, cells, 85) + xiaoqu(rng, xq, comm_code, 35)
            + communities(rng, comms, comm_code, 35) + too_vague(rng, roads, streets)
            + [(t, "askback", "") for t in NO_PLACE])
    # a few written in traditional characters, as some residents and IMEs send them
    for i in rng.sample(range(len(rows) - len(NO_PLACE)), 18):
        t, k, e = rows[i]
        rows[i] = (t.translate(TRAD), k, e)
    seen, out = set(), []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            out.append(row)
    rng.shuffle(out)
    with open(OUT, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["text", "expected_kind", "expected"])
        w.writerows(out)
    counts = {}
    for _, k, _ in out:
        counts[k] = counts.get(k, 0) + 1
    print(f"{len(out)} rows written to {OUT.relative_to(ROOT)}: {counts}")


if __name__ == "__main__":
    main()
