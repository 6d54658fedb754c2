"""Gridline's Flask application factory (the `gridline` command line is cli.py)."""
from __future__ import annotations

from flask import Flask, jsonify

from config import Config
from intake.context import Context
from intake.service import DATABASE_DOWN, SPOOLED_NOTICE, Spooled
from web.http import BadRequest, error_response


def _console_page() -> bool:
    from flask import request
    from web.auth import UI_BLUEPRINTS
    return (request.blueprint in UI_BLUEPRINTS and not request.is_json
            and request.accept_mimetypes.best != "application/json")


def create_app(ctx: Context | None = None) -> Flask:
    ctx = ctx or Context(Config())
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.json.ensure_ascii = False
    app.extensions["gridline"] = ctx

    from gateway.hotline import bp as hotline_bp
    from web.api import bp as api_bp
    app.register_blueprint(hotline_bp)
    app.register_blueprint(api_bp)
    from web.metrics import bp as metrics_bp  # GET /metrics for Prometheus
    app.register_blueprint(metrics_bp)
    from gateway.telegram import bp as telegram_bp
    app.register_blueprint(telegram_bp)
    from gateway.open311 import bp as open311_bp
    app.register_blueprint(open311_bp)
    from gateway.twilio_sms import bp as twilio_sms_bp
    app.register_blueprint(twilio_sms_bp)
    from web.ui import init_app as init_consoles  # sign-in, CSRF and the staff consoles
    init_consoles(app, ctx)

    @app.errorhandler(BadRequest)
    def _bad_request(exc: BadRequest):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(413)
    def _too_large(_exc):
        return error_response(413, "too_large", "请求体过大")

    @app.errorhandler(404)
    def _not_found(_exc):
        return error_response(404, "not_found", "没有这个地址")

    @app.errorhandler(405)
    def _method(_exc):
        return error_response(405, "method_not_allowed", "不支持该请求方法")

    def _database_down(exc):
        # Not stored, and not spooled either (Redis is down too, or this was no intake): say so,
        # so the sender (a provider, the hotline client) retries, rather than a bare 500.
        app.logger.error("database unavailable: %s", exc)
        if _console_page():  # staff in a browser read a page, not JSON
            from flask import render_template
            return render_template("ui/error.html", title="数据库暂时不可用",
                                   message="数据库暂时不可用，请稍后刷新本页。"), 503, {"Retry-After": "30"}
        body, status = error_response(503, "database_unavailable", "数据库暂时不可用，消息未保存，请稍后重试")
        return body, status, {"Retry-After": "30"}

    for error in DATABASE_DOWN:
        app.register_error_handler(error, _database_down)

    @app.errorhandler(Spooled)
    def _spooled(_exc: Spooled):
        # A channel without its own answer for a spooled message: kept, it will be filed.
        return jsonify({"message_id": None, "spooled": True, "message": SPOOLED_NOTICE}), 202

    return app
