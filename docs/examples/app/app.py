# app.py: the demo's small Flask API; metrics.py times each of its requests with statsd.
# Run it under metricsbus-shim, which sets STATSD_UDP_HOST/PORT; APP_PORT (or Marathon's
# PORT0) picks its port, APP_HOST its address.
import os
import random
import time

from flask import Flask, jsonify

from metrics import setup_metrics

app = Flask(__name__)
setup_metrics(app)


@app.route("/")
def index():
    # A little work of varying length, so the latency percentiles have a shape.
    time.sleep(random.uniform(0.001, 0.02))
    return jsonify(hello="metricsbus")


@app.route("/health")
def health():
    return jsonify(ok=True)


if __name__ == "__main__":
    app.run(host=os.environ.get("APP_HOST", "127.0.0.1"),
            port=int(os.environ.get("APP_PORT") or os.environ.get("PORT0") or "5000"))
