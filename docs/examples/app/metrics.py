# metrics.py: times every request of a Flask app with statsd, as in the DC/OS post
# "Instrumenting your application with statsd for DC/OS metrics" (prefix testapp).
import os
import time

import statsd
from flask import request

# metricsbus-shim (like DC/OS before it) tells the app where its statsd socket is.
STATSD_HOST = os.environ.get("STATSD_UDP_HOST", "127.0.0.1")
STATSD_PORT = int(os.environ.get("STATSD_UDP_PORT", "8125"))

client = statsd.StatsClient(STATSD_HOST, STATSD_PORT, prefix="testapp")


def start_timer():
    request.start_time = time.time()


def stop_timer(response):
    # Milliseconds: statsd timers are in ms, and so is testapp.response.latency in /app.
    latency_ms = (time.time() - request.start_time) * 1000.0
    client.timing("response.latency", latency_ms)
    client.incr("requests")
    return response


def setup_metrics(app):
    app.before_request(start_timer)
    app.after_request(stop_timer)
