// dcoscli-go: the metrics commands of the dcos CLI (dcos/dcos-core-cli, Go), imitated for
// tests: the request paths, the status handling (200 decoded, 204 "no metrics", anything else
// "HTTP %d error"), the JSON types the CLI decodes into, and the --json and table outputs of
// `dcos task metrics details|summary` and `dcos node metrics details|summary`. The master is
// stubbed: DCOS_TASKS names a JSON file of tasks (id, agent_id, statuses[].container_status).
// DCOS_URL is the cluster (http://HOST:PORT) or unix:PATH for the bridge's Unix socket.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// --- pkg/metrics/types.go

type Node struct {
	Datapoints []Datapoint `json:"datapoints"`
	Dimensions struct {
		MesosID   string `json:"mesos_id"`
		ClusterID string `json:"cluster_id"`
		Hostname  string `json:"hostname"`
	} `json:"dimensions"`
}

type Container struct {
	Datapoints []Datapoint `json:"datapoints"`
	Dimensions struct {
		MesosID       string `json:"mesos_id"`
		ClusterID     string `json:"cluster_id"`
		ContainerID   string `json:"container_id"`
		FrameworkName string `json:"framework_name"`
		TaskName      string `json:"task_name"`
		Hostname      string `json:"hostname"`
		Labels        struct {
			DcosClusterID     string `json:"dcos_cluster_id"`
			DcosClusterName   string `json:"dcos_cluster_name"`
			FaultDomainRegion string `json:"fault_domain_region"`
			FaultDomainZone   string `json:"fault_domain_zone"`
			Host              string `json:"host"`
		} `json:"labels"`
	} `json:"dimensions"`
}

type Datapoint struct {
	Name      string            `json:"name"`
	Value     float64           `json:"value"`
	Unit      string            `json:"unit"`
	Timestamp time.Time         `json:"timestamp"`
	Tags      map[string]string `json:"tags,omitempty"`
}

// --- pkg/metrics/client.go

type Client struct {
	base string
	http *http.Client
}

func newClient() *Client {
	u := os.Getenv("DCOS_URL")
	c := &Client{base: u, http: &http.Client{Timeout: 30 * time.Second}}
	if strings.HasPrefix(u, "unix:") {
		path := u[len("unix:"):]
		c.base = "http://localhost"
		c.http.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
	}
	return c
}

func (c *Client) get(path string) (*http.Response, error) {
	return c.http.Get(c.base + path)
}

func (c *Client) Node(agent string) (*Node, error) {
	resp, err := c.get(fmt.Sprintf("/system/v1/agent/%s/metrics/v0/node", agent))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case 200:
		var node Node
		if err = json.NewDecoder(resp.Body).Decode(&node); err != nil {
			return nil, err
		}
		return &node, nil
	default:
		return nil, fmt.Errorf("HTTP %d error", resp.StatusCode)
	}
}

func (c *Client) container(path string) (*Container, error) {
	resp, err := c.get(path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case 200:
		var container Container
		if err = json.NewDecoder(resp.Body).Decode(&container); err != nil {
			return nil, err
		}
		return &container, nil
	case 204:
		return nil, nil
	default:
		return nil, fmt.Errorf("HTTP %d error", resp.StatusCode)
	}
}

func (c *Client) Task(agent, container string) (*Container, error) {
	return c.container(fmt.Sprintf("/system/v1/agent/%s/metrics/v0/containers/%s", agent, container))
}

func (c *Client) App(agent, container string) (*Container, error) {
	return c.container(fmt.Sprintf("/system/v1/agent/%s/metrics/v0/containers/%s/app", agent, container))
}

// --- the master, stubbed

type task struct {
	ID       string `json:"id"`
	AgentID  string `json:"agent_id"`
	Statuses []struct {
		ContainerStatus struct {
			ContainerID struct {
				Value string `json:"value"`
			} `json:"container_id"`
		} `json:"container_status"`
	} `json:"statuses"`
}

func findTask(id string) (*task, error) {
	raw, err := os.ReadFile(os.Getenv("DCOS_TASKS"))
	if err != nil {
		return nil, err
	}
	var tasks []task
	if err = json.Unmarshal(raw, &tasks); err != nil {
		return nil, err
	}
	var found []task
	for _, t := range tasks {
		if strings.Contains(t.ID, id) {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("Expected one task matching '%s', found %d", id, len(found))
	}
	return &found[0], nil
}

// --- pkg/cmd/task/task_metrics_details.go, task_metrics_summary.go

func taskMetricsDetails(id string, jsonOutput bool) error {
	task, err := findTask(id)
	if err != nil {
		return err
	}
	status := task.Statuses[0]
	containerID := status.ContainerStatus.ContainerID.Value
	c := newClient()
	taskMetrics, err := c.Task(task.AgentID, containerID)
	if err != nil {
		return err
	}
	appMetrics, err := c.App(task.AgentID, containerID)
	if err != nil {
		return err
	}
	if taskMetrics == nil && appMetrics == nil {
		return fmt.Errorf("No metrics found for task '%s'", task.ID)
	}
	datapoints := []Datapoint{}
	if taskMetrics != nil {
		datapoints = append(datapoints, taskMetrics.Datapoints...)
	}
	if appMetrics != nil {
		datapoints = append(datapoints, appMetrics.Datapoints...)
	}
	if jsonOutput {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(datapoints)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tVALUE")
	for _, datapoint := range datapoints {
		value := ""
		if datapoint.Value == float64(int(datapoint.Value)) {
			value = fmt.Sprintf("%.0f", datapoint.Value)
		} else {
			value = fmt.Sprintf("%.2f", datapoint.Value)
		}
		fmt.Fprintf(w, "%s\t%s\n", datapoint.Name, value)
	}
	return w.Flush()
}

func taskMetricsSummary(id string, jsonOutput bool) error {
	task, err := findTask(id)
	if err != nil {
		return err
	}
	containerID := task.Statuses[0].ContainerStatus.ContainerID.Value
	taskMetrics, err := newClient().Task(task.AgentID, containerID)
	if err != nil {
		return err
	}
	if taskMetrics == nil {
		return fmt.Errorf("No metrics found for task '%s'", task.ID)
	}
	filteredDatapoints := []Datapoint{}
	summaryDatapoints := map[string]float64{
		"cpus.user_time_secs":      0,
		"cpus.system_time_secs":    0,
		"cpus.throttled_time_secs": 0,
		"mem.limit_bytes":          0,
		"mem.total_bytes":          0,
		"disk.used_bytes":          0,
		"disk.limit_bytes":         0,
	}
	for _, datapoint := range taskMetrics.Datapoints {
		if _, ok := summaryDatapoints[datapoint.Name]; ok {
			filteredDatapoints = append(filteredDatapoints, datapoint)
			summaryDatapoints[datapoint.Name] = datapoint.Value
		}
	}
	if jsonOutput {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(filteredDatapoints)
	}
	cpuUsed := summaryDatapoints["cpus.user_time_secs"] + summaryDatapoints["cpus.system_time_secs"]
	cpuTotal := cpuUsed + summaryDatapoints["cpus.throttled_time_secs"]
	cpuPercent := "N/A"
	if cpuTotal != 0 {
		cpuPercent = fmt.Sprintf("%.2f%%", (cpuUsed/cpuTotal)*100)
	}
	// The CLI's own bug, kept: it reads mem.file_bytes, which its map never fills.
	memUsed := summaryDatapoints["mem.file_bytes"]
	memTotal := summaryDatapoints["mem.total_bytes"]
	memPercent := "N/A"
	if memTotal != 0 {
		memPercent = fmt.Sprintf("%.2f%%", (memUsed/memTotal)*100)
	}
	diskUsed := summaryDatapoints["disk.used_bytes"]
	diskLimit := summaryDatapoints["disk.limit_bytes"]
	diskPercent := "N/A"
	if diskLimit != 0 {
		diskPercent = fmt.Sprintf("%.2f%%", (diskUsed/diskLimit)*100)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "CPU\tMEM\tDISK")
	fmt.Fprintf(w, "%s\t%s\t%s\n", fmt.Sprintf("%.2f (%s)", cpuUsed, cpuPercent),
		fmt.Sprintf("%.2fGiB (%s)", memUsed/math.Pow(10, 9), memPercent),
		fmt.Sprintf("%.2fGiB (%s)", diskUsed, diskPercent))
	return w.Flush()
}

// Not a dcos command: what the CLI decoded of a task's dimensions (its Container type), so
// that tests can see the labels object decode into it.
func taskDimensions(id string) error {
	task, err := findTask(id)
	if err != nil {
		return err
	}
	containerID := task.Statuses[0].ContainerStatus.ContainerID.Value
	app, err := newClient().App(task.AgentID, containerID)
	if err != nil {
		return err
	}
	if app == nil {
		return fmt.Errorf("No metrics found for task '%s'", task.ID)
	}
	return json.NewEncoder(os.Stdout).Encode(app.Dimensions)
}

// --- pkg/cmd/node/node_metrics_details.go, node_metrics_summary.go

func nodeMetricsDetails(agent string, jsonOutput bool) error {
	node, err := newClient().Node(agent)
	if err != nil {
		return err
	}
	if jsonOutput {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(node.Datapoints)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tVALUE\tTAGS")
	for _, datapoint := range node.Datapoints {
		value := ""
		switch datapoint.Unit {
		case "bytes":
			value = fmt.Sprintf("%.2fGiB", datapoint.Value/math.Pow(10, 9))
		case "percent":
			value = fmt.Sprintf("%.2f%%", datapoint.Value)
		default:
			value = fmt.Sprintf("%.0f", datapoint.Value)
		}
		tags := ""
		for key, val := range datapoint.Tags {
			if tags != "" {
				tags += ", "
			}
			tags += fmt.Sprintf("%s: %s", key, val)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", datapoint.Name, value, tags)
	}
	return w.Flush()
}

func nodeMetricsSummary(agent string, jsonOutput bool) error {
	node, err := newClient().Node(agent)
	if err != nil {
		return err
	}
	filteredDatapoints := []Datapoint{}
	summaryDatapoints := map[string]float64{
		"load.1min":                 0,
		"cpu.total":                 0,
		"memory.total":              0,
		"memory.free":               0,
		"filesystem.capacity.total": 0,
		"filesystem.capacity.used":  0,
	}
	for _, datapoint := range node.Datapoints {
		if _, ok := summaryDatapoints[datapoint.Name]; ok {
			if strings.Contains(datapoint.Name, "filesystem.capacity.") && datapoint.Tags != nil {
				if val, ok := datapoint.Tags["path"]; ok && val != "/" {
					continue
				}
			}
			filteredDatapoints = append(filteredDatapoints, datapoint)
			summaryDatapoints[datapoint.Name] = datapoint.Value
		}
	}
	if jsonOutput {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(filteredDatapoints)
	}
	memUsed := summaryDatapoints["memory.total"] - summaryDatapoints["memory.free"]
	percentMemUsed := memUsed / summaryDatapoints["memory.total"] * 100
	percentDiskUsed := summaryDatapoints["filesystem.capacity.used"] / summaryDatapoints["filesystem.capacity.total"] * 100
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "CPU\tMEM\tDISK")
	fmt.Fprintf(w, "%s\t%s\t%s\n",
		fmt.Sprintf("%.2f (%.2f%%)", summaryDatapoints["load.1min"], summaryDatapoints["cpu.total"]),
		fmt.Sprintf("%.2fGiB (%.2f%%)", memUsed/math.Pow(10, 9), percentMemUsed),
		fmt.Sprintf("%.2fGiB (%.2f%%)", summaryDatapoints["filesystem.capacity.used"]/math.Pow(10, 9), percentDiskUsed))
	return w.Flush()
}

func main() {
	args := []string{}
	jsonOutput := false
	for _, a := range os.Args[1:] {
		if a == "--json" {
			jsonOutput = true
		} else {
			args = append(args, a)
		}
	}
	var err error
	switch {
	case len(args) == 4 && args[0] == "task" && args[1] == "metrics" && args[2] == "details":
		err = taskMetricsDetails(args[3], jsonOutput)
	case len(args) == 4 && args[0] == "task" && args[1] == "metrics" && args[2] == "summary":
		err = taskMetricsSummary(args[3], jsonOutput)
	case len(args) == 4 && args[0] == "task" && args[1] == "metrics" && args[2] == "dimensions":
		err = taskDimensions(args[3])
	case len(args) == 4 && args[0] == "node" && args[1] == "metrics" && args[2] == "details":
		err = nodeMetricsDetails(args[3], jsonOutput)
	case len(args) == 4 && args[0] == "node" && args[1] == "metrics" && args[2] == "summary":
		err = nodeMetricsSummary(args[3], jsonOutput)
	default:
		fmt.Fprintln(os.Stderr, "usage: dcoscli-go task|node metrics details|summary [--json] ID")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
}
