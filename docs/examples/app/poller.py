# poller.py: hits the demo app every half second (APP_URL), so testapp.response.latency
# always has fresh points; counts its own requests and errors under the prefix testpoller.
import os
import signal
import sys
import time

import requests
import statsd

URL = os.environ.get("APP_URL", "http://127.0.0.1:5000/")
INTERVAL = float(os.environ.get("POLL_INTERVAL", "0.5"))
stats = statsd.StatsClient(os.environ.get("STATSD_UDP_HOST", "127.0.0.1"),
                           int(os.environ.get("STATSD_UDP_PORT", "8125")), prefix="testpoller")
running = True


def stop(signum, frame):
    global running
    running = False


def main():
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    session = requests.Session()
    while running:
        started = time.monotonic()
        try:
            session.get(URL, timeout=5).raise_for_status()
            stats.incr("requests")
        except requests.RequestException:
            # The app may still be starting, or gone: count it and keep polling.
            stats.incr("errors")
        time.sleep(max(0.0, INTERVAL - (time.monotonic() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
