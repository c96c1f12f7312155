"""dcoscli_py: the metrics commands of the dcos CLI's Python core (dcos/dcos-core-cli,
python/lib/dcoscli: metrics.py and the task/node `_metrics` entry points), imitated for tests
with the standard library: the URLs, the status handling (204 is no datapoints, anything but
200 an HTTP error, as dcos.http raised it), the JSON read, the summaries and the --json output.
The master is stubbed: DCOS_TASKS names a JSON file of tasks (id, agent_id, statuses).
DCOS_CLI_NAMES=1.11 imitates the release whose task summary read DC/OS 1.11's names.
DCOS_URL is the cluster (http://HOST:PORT) or unix:PATH for the bridge's Unix socket.

    dcoscli_py.py task metrics details|summary [--json] TASK_ID
    dcoscli_py.py node metrics details|summary [--json] MESOS_ID
"""
import http.client
import json
import os
import socket
import sys
import urllib.parse


class DCOSException(Exception):
    pass


class EmptyMetricsException(DCOSException):
    def __init__(self):
        super().__init__('No metrics found')


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path_ = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path_)


class _Response:
    def __init__(self, status, body):
        self.status_code = status
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def _get(url):
    """dcos.http.get: raises for a status outside 200..299 (DCOSHTTPException)."""
    base = os.environ["DCOS_URL"]
    if base.startswith("unix:"):
        conn = _UnixConnection(base[len("unix:"):])
        path = url[len(base):]
    else:
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        path = u.path
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        resp = _Response(r.status, r.read())
    finally:
        conn.close()
    if not 200 <= resp.status_code < 300:
        raise DCOSException("Error while fetching [{}]: HTTP {}: {}".format(
            url, resp.status_code, resp.body.decode(errors="replace")))
    return resp


# --- dcoscli/metrics.py

def _gib(n):
    return n * pow(2, -30)


def _percentage(dividend, divisor):
    if divisor > 0:
        return dividend / divisor * 100
    return 0


def _fetch_metrics_datapoints(url):
    r = _get(url)
    if r.status_code == 204:
        return []
    if r.status_code != 200:
        raise DCOSException("HTTP {}".format(r.status_code))
    return r.json().get('datapoints', [])


def _get_datapoint(datapoints, name, tags=None):
    for datapoint in datapoints:
        if datapoint['name'] == name:
            if tags is None:
                return datapoint
            dtags = datapoint.get('tags', {})
            tag_match = True
            for k, v in tags.items():
                tag_match = tag_match and dtags.get(k) == v
            if tag_match:
                return datapoint


def _get_datapoint_value(datapoints, name, tags=None):
    datapoint = _get_datapoint(datapoints, name, tags)
    if datapoint is not None:
        return datapoint.get('value', 0.0)
    return 0.0


def _node_summary_json(datapoints):
    # a metric the node does not have is left out (the CLI's commit e5a51ce2)
    metrics = [
        ['cpu.total'],
        ['memory.total'],
        ['memory.free'],
        ['filesystem.capacity.total', {'path': '/'}],
        ['filesystem.capacity.used', {'path': '/'}],
    ]
    summary = [_get_datapoint(datapoints, *m) for m in metrics]
    return json.dumps([d for d in summary if d is not None])


def _node_summary_data(datapoints):
    cpu_used = _get_datapoint_value(datapoints, 'load.1min')
    cpu_used_pc = _get_datapoint_value(datapoints, 'cpu.total')
    cpu = '{:0.2f} ({:0.2f}%)'.format(cpu_used, cpu_used_pc)
    mem_total = _get_datapoint_value(datapoints, 'memory.total')
    mem_free = _get_datapoint_value(datapoints, 'memory.free')
    mem_used = mem_total - mem_free
    mem_used_pc = _percentage(mem_used, mem_total)
    disk_total = _get_datapoint_value(datapoints, 'filesystem.capacity.total', {'path': '/'})
    disk_used = _get_datapoint_value(datapoints, 'filesystem.capacity.used', {'path': '/'})
    disk_used_pc = _percentage(disk_used, disk_total)
    return {'cpu': cpu,
            'mem': '{:0.2f}GiB ({:0.2f}%)'.format(_gib(mem_used), mem_used_pc),
            'disk': '{:0.2f}GiB ({:0.2f}%)'.format(_gib(disk_used), disk_used_pc)}


# The task summary's names: the current metrics.py reads DC/OS 1.12+'s (since its commit
# 2a94bd7e, "Update metric names"); DCOS_CLI_NAMES=1.11 imitates the release before it, which
# read dcos-metrics' 1.11 names.
NAMES = {
    '1.12': {'cpu_user': 'cpus.user_time_secs', 'cpu_system': 'cpus.system_time_secs',
             'cpu_throttled': 'cpus.throttled_time_secs', 'mem_limit': 'mem.limit_bytes',
             'mem_total': 'mem.total_bytes', 'disk_used': 'disk.used_bytes',
             'disk_limit': 'disk.limit_bytes'},
    '1.11': {'cpu_user': 'cpus.user.time', 'cpu_system': 'cpus.system.time',
             'cpu_throttled': 'cpus.throttled.time', 'mem_limit': 'mem.limit',
             'mem_total': 'mem.total', 'disk_used': 'disk.used', 'disk_limit': 'disk.limit'},
}


def _names():
    return NAMES[os.environ.get('DCOS_CLI_NAMES', '1.12')]


def _task_summary_json(datapoints):
    n = _names()
    return json.dumps([
        _get_datapoint(datapoints, n['cpu_user']),
        _get_datapoint(datapoints, n['mem_total']),
        _get_datapoint(datapoints, n['disk_used'])
    ])


def _task_summary_data(datapoints):
    n = _names()
    cpu_user = _get_datapoint_value(datapoints, n['cpu_user'])
    cpu_system = _get_datapoint_value(datapoints, n['cpu_system'])
    cpu_throttled = _get_datapoint_value(datapoints, n['cpu_throttled'])
    cpu_used = cpu_user + cpu_system
    cpu_total = cpu_used + cpu_throttled
    cpu_used_pc = _percentage(cpu_used, cpu_total)
    mem_total = _get_datapoint_value(datapoints, n['mem_limit'])
    mem_used = _get_datapoint_value(datapoints, n['mem_total'])
    mem_used_pc = _percentage(mem_used, mem_total)
    # The CLI's own bug, kept: disk used and limit swapped.
    disk_total = _get_datapoint_value(datapoints, n['disk_used'])
    disk_used = _get_datapoint_value(datapoints, n['disk_limit'])
    disk_used_pc = _percentage(disk_used, disk_total)
    return {'cpu': '{:0.2f} ({:0.2f}%)'.format(cpu_used, cpu_used_pc),
            'mem': '{:0.2f}GiB ({:0.2f}%)'.format(_gib(mem_used), mem_used_pc),
            'disk': '{:0.2f}GiB ({:0.2f}%)'.format(_gib(disk_used), disk_used_pc)}


def _format_datapoints(datapoints):
    def _format_tags(tags):
        if tags is None:
            return ''
        return ', '.join('{}: {}'.format(k, v) for k, v in tags.items())

    def _format_value(v, u):
        if v is None:
            return "N/A"
        if u == 'bytes':
            return '{:0.2f}GiB'.format(_gib(v))
        if u == 'percent':
            return '{:0.2f}%'.format(v)
        if type(v) == float:
            return '{:0.2f}'.format(v)
        return v

    return [{'name': d['name'], 'value': _format_value(d['value'], d['unit']),
             'tags': _format_tags(d.get('tags'))} for d in datapoints]


def _publish(obj):
    """emitting.FlatEmitter: strings as they are, the rest as indented JSON."""
    if isinstance(obj, str):
        print(obj)
    else:
        print(json.dumps(obj, sort_keys=True, indent=2))


def _table(rows, cols):
    widths = [max([len(c)] + [len(str(r[c.lower()])) for r in rows]) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r[c.lower()]).ljust(w) for c, w in zip(cols, widths)))


def print_node_metrics(url, summary, json_):
    datapoints = _fetch_metrics_datapoints(url)
    if summary:
        if json_:
            return _publish(_node_summary_json(datapoints))
        return _table([_node_summary_data(datapoints)], ["CPU", "MEM", "DISK"])
    if json_:
        return _publish(datapoints)
    return _table(_format_datapoints(datapoints), ["NAME", "VALUE", "TAGS"])


def print_task_metrics(url, app_url, summary, json_):
    container_datapoints = _fetch_metrics_datapoints(url)
    app_datapoints = _fetch_metrics_datapoints(app_url)
    datapoints = container_datapoints + app_datapoints
    if len(datapoints) == 0:
        raise EmptyMetricsException()
    if summary:
        if json_:
            return _publish(_task_summary_json(datapoints))
        return _table([_task_summary_data(datapoints)], ["CPU", "MEM", "DISK"])
    if json_:
        return _publish(datapoints)
    return _table(_format_datapoints(datapoints), ["NAME", "VALUE", "TAGS"])


# --- dcoscli/task/main.py and dcoscli/node/main.py: _metrics

def _master_task(task_id):
    with open(os.environ["DCOS_TASKS"]) as f:
        tasks = [t for t in json.load(f) if task_id in t["id"]]
    if len(tasks) != 1:
        raise DCOSException("Cannot find a task with ID containing '{}'".format(task_id))
    return tasks[0]


def task_metrics(summary, task_id, json_):
    task = _master_task(task_id)
    container_id = task['statuses'][0]['container_status']['container_id']['value']
    endpoint = '/system/v1/agent/{}/metrics/v0/containers/{}'.format(task['agent_id'], container_id)
    url = os.environ["DCOS_URL"].rstrip('/') + endpoint
    return print_task_metrics(url, url + '/app', summary, json_)


def node_metrics(summary, mesos_id, json_):
    url = os.environ["DCOS_URL"].rstrip('/') + '/system/v1/agent/{}/metrics/v0/node'.format(mesos_id)
    return print_node_metrics(url, summary, json_)


def main(argv):
    json_ = "--json" in argv
    args = [a for a in argv if a != "--json"]
    if len(args) != 4 or args[1] != "metrics" or args[2] not in ("details", "summary"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if args[0] == "task":
            task_metrics(args[2] == "summary", args[3], json_)
        elif args[0] == "node":
            node_metrics(args[2] == "summary", args[3], json_)
        else:
            return 2
    except DCOSException as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
