// Package metrics exposes what Hearth does in Prometheus's text format
// (GET /metrics): invocations, errors, throttles, durations and cold
// starts per function version, counted by one call per invocation
// (Runner), and the environments and the async queue, read from their
// owners at scrape time (collectors), so that nothing else on the
// invocation path pays for them.
//
// Labels name the account, function and version of each series. At most
// MaxSeries such triples get series of their own; invocations of any
// other are folded into the series whose three labels are "other", so
// that a server with thousands of functions (or a function with
// thousands of published versions) cannot make a scrape unbounded. A
// deleted function's or version's series are dropped (FollowConfigs), so
// that functions created and deleted free the places they took.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hearth/internal/async"
	"hearth/internal/function"
	"hearth/internal/worker"
)

// MaxSeries bounds the (account, function, version) triples with series
// of their own. Each triple has about 45 time series (six counters and
// gauges, two histograms of 17 and 10 buckets); 200 triples make about
// 9,000, under the 10,000 series a target may expose before a single
// Prometheus starts to feel it, and a scrape of about 1 MB.
const MaxSeries = 200

// Other is the label value of the series that folds every triple past
// MaxSeries.
const Other = "other"

// Runner is what Metrics wraps: *worker.Worker, and what
// invoke.Service runs invocations with.
type Runner interface {
	Invoke(ctx context.Context, req *worker.Request) (*worker.Result, error)
}

// Environments lists the live environments; *worker.Worker satisfies it.
type Environments interface {
	Environments() []worker.EnvInfo
}

// AsyncStats reports the async queue; *async.Queue satisfies it.
type AsyncStats interface {
	Stats(ctx context.Context) (async.Stats, error)
}

// Metrics holds Hearth's metrics.
type Metrics struct {
	reg   *prometheus.Registry
	limit int

	invocations  *prometheus.CounterVec
	errors       *prometheus.CounterVec
	throttles    *prometheus.CounterVec
	coldStarts   *prometheus.CounterVec
	concurrent   *prometheus.GaugeVec
	duration     *prometheus.HistogramVec
	initDuration *prometheus.HistogramVec

	mu     sync.RWMutex
	series map[key]*series // guarded by mu; at most limit entries
	other  *series
}

type key struct{ account, function, version string }

// series are one triple's metrics, resolved once so that an invocation
// costs a map lookup and a few atomic adds.
type series struct {
	labels       key
	invocations  prometheus.Counter
	errors       prometheus.Counter
	throttles    prometheus.Counter
	coldStarts   prometheus.Counter
	concurrent   prometheus.Gauge
	duration     prometheus.Observer
	initDuration prometheus.Observer
}

var labelNames = []string{"account", "function", "version"}

// New returns Metrics that give at most limit triples series of their
// own (MaxSeries when limit is zero).
func New(limit int) *Metrics {
	if limit <= 0 {
		limit = MaxSeries
	}
	m := &Metrics{
		reg:   prometheus.NewRegistry(),
		limit: limit,
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hearth_invocations_total",
			Help: "Invocations that reached an execution environment, successful or not (Lambda's Invocations)."}, labelNames),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hearth_invocation_errors_total",
			Help: "Invocations that ended in a function error or could not run (Lambda's Errors)."}, labelNames),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hearth_throttles_total",
			Help: "Invocations refused for want of concurrency (Lambda's Throttles)."}, labelNames),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hearth_cold_starts_total",
			Help: "Invocations that started an execution environment."}, labelNames),
		concurrent: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hearth_concurrent_executions",
			Help: "Invocations running now (Lambda's ConcurrentExecutions)."}, labelNames),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hearth_invocation_duration_seconds",
			Help:    "How long invocations ran, as their REPORT line says (Lambda's Duration).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}}, labelNames),
		initDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hearth_init_duration_seconds",
			Help:    "How long cold starts' init phases took (Lambda's InitDuration).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, labelNames),
		series: make(map[key]*series),
	}
	m.reg.MustRegister(m.invocations, m.errors, m.throttles, m.coldStarts, m.concurrent, m.duration, m.initDuration)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.other = m.newSeries(key{Other, Other, Other})
	return m
}

func (m *Metrics) newSeries(k key) *series {
	l := []string{k.account, k.function, k.version}
	return &series{
		labels:       k,
		invocations:  m.invocations.WithLabelValues(l...),
		errors:       m.errors.WithLabelValues(l...),
		throttles:    m.throttles.WithLabelValues(l...),
		coldStarts:   m.coldStarts.WithLabelValues(l...),
		concurrent:   m.concurrent.WithLabelValues(l...),
		duration:     m.duration.WithLabelValues(l...),
		initDuration: m.initDuration.WithLabelValues(l...),
	}
}

// seriesOf returns the series of a triple, making them while fewer than
// the limit exist, else the "other" series.
func (m *Metrics) seriesOf(account, function, version string) *series {
	k := key{account, function, version}
	m.mu.RLock()
	s := m.series[k]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.series[k]; s != nil {
		return s
	}
	if len(m.series) >= m.limit {
		return m.other
	}
	s = m.newSeries(k)
	m.series[k] = s
	return s
}

// labelsOf returns the labels a triple's series carry: its own, or
// "other" once the limit is reached.
func (m *Metrics) labelsOf(account, function, version string) key {
	return m.seriesOf(account, function, version).labels
}

// Register adds collectors (a server's own, from other packages) to the
// registry /metrics serves.
func (m *Metrics) Register(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Throttled counts an invocation of account's function version refused
// for want of concurrency.
func (m *Metrics) Throttled(account, function, version string) {
	m.seriesOf(account, function, version).throttles.Inc()
}

// Wrap returns next counting every invocation it runs: this is the one
// hook on the invocation path. account names the functions whose
// configuration names no account.
func (m *Metrics) Wrap(next Runner, account string) Runner {
	return &runner{m: m, next: next, account: account}
}

type runner struct {
	m       *Metrics
	next    Runner
	account string
}

func (r *runner) Invoke(ctx context.Context, req *worker.Request) (*worker.Result, error) {
	account := req.Function.Account
	if account == "" {
		account = r.account
	}
	s := r.m.seriesOf(account, req.Function.Name, req.Function.Version)
	s.concurrent.Inc()
	res, err := r.next.Invoke(ctx, req)
	s.concurrent.Dec()
	s.invocations.Inc()
	if err != nil || res.FunctionError != "" {
		s.errors.Inc()
	}
	if res != nil {
		s.duration.Observe(res.Duration.Seconds())
		if res.ColdStart {
			s.coldStarts.Inc()
			s.initDuration.Observe(res.InitDuration.Seconds())
		}
	}
	return res, err
}

// CollectEnvironments adds the environments gauge, read from envs at
// each scrape. account names the environments whose function names
// none.
func (m *Metrics) CollectEnvironments(envs Environments, account string) {
	m.reg.MustRegister(&envCollector{m: m, envs: envs, account: account})
}

var envDesc = prometheus.NewDesc("hearth_environments", "Live execution environments by state (idle, busy, destroying).",
	[]string{"account", "function", "version", "state"}, nil)

type envCollector struct {
	m       *Metrics
	envs    Environments
	account string
}

func (c *envCollector) Describe(ch chan<- *prometheus.Desc) { ch <- envDesc }

func (c *envCollector) Collect(ch chan<- prometheus.Metric) {
	type envKey struct {
		key
		state string
	}
	counts := make(map[envKey]int)
	for _, e := range c.envs.Environments() {
		account := e.Account
		if account == "" {
			account = c.account
		}
		counts[envKey{c.m.labelsOf(account, e.Function, e.Version), e.State}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(envDesc, prometheus.GaugeValue, float64(n), k.account, k.function, k.version, k.state)
	}
}

// CollectAsync adds the async queue's gauges and counters, read from q
// at each scrape.
func (m *Metrics) CollectAsync(q AsyncStats) {
	m.reg.MustRegister(&asyncCollector{q: q})
}

var (
	asyncDepth = prometheus.NewDesc("hearth_async_queue_depth", "Async events stored: waiting, being retried or running.", nil, nil)
	asyncAge   = prometheus.NewDesc("hearth_async_oldest_event_age_seconds",
		"How long the oldest stored async event has waited (Lambda's AsyncEventAge, as a maximum).", nil, nil)
	asyncInFlight = prometheus.NewDesc("hearth_async_events_in_flight", "Async events being invoked now.", nil, nil)
	asyncReceived = prometheus.NewDesc("hearth_async_events_received_total",
		"Async events accepted into the queue (Lambda's AsyncEventsReceived).", nil, nil)
	asyncSucceeded = prometheus.NewDesc("hearth_async_events_succeeded_total", "Async events whose invocation succeeded.", nil, nil)
	asyncRetried   = prometheus.NewDesc("hearth_async_retries_total", "Retries scheduled after a function error.", nil, nil)
	asyncThrottled = prometheus.NewDesc("hearth_async_throttled_total", "Async deliveries put back because of throttling.", nil, nil)
	asyncDropped   = prometheus.NewDesc("hearth_async_events_dropped_total",
		"Async events given up (Lambda's AsyncEventsDropped), by reason: failed (every attempt failed; sent to the on-failure destination or dead-letter queue if there is one), expired (older than the maximum event age), deleted (the function is gone, or the event is malformed).",
		[]string{"reason"}, nil)
	asyncDelivered = prometheus.NewDesc("hearth_async_destination_deliveries_total",
		"Records sent to destinations and dead-letter queues.", nil, nil)
	asyncUp = prometheus.NewDesc("hearth_async_stats_up", "1 if the async queue's statistics could be read at this scrape.", nil, nil)
)

type asyncCollector struct{ q AsyncStats }

func (c *asyncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{asyncDepth, asyncAge, asyncInFlight, asyncReceived, asyncSucceeded, asyncRetried,
		asyncThrottled, asyncDropped, asyncDelivered, asyncUp} {
		ch <- d
	}
}

func (c *asyncCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.q.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(asyncUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(asyncUp, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(asyncDepth, prometheus.GaugeValue, float64(s.Depth))
	ch <- prometheus.MustNewConstMetric(asyncAge, prometheus.GaugeValue, s.OldestAgeSeconds)
	ch <- prometheus.MustNewConstMetric(asyncInFlight, prometheus.GaugeValue, float64(s.InFlight))
	ch <- prometheus.MustNewConstMetric(asyncReceived, prometheus.CounterValue, float64(s.Enqueued))
	ch <- prometheus.MustNewConstMetric(asyncSucceeded, prometheus.CounterValue, float64(s.Succeeded))
	ch <- prometheus.MustNewConstMetric(asyncRetried, prometheus.CounterValue, float64(s.Retried))
	ch <- prometheus.MustNewConstMetric(asyncThrottled, prometheus.CounterValue, float64(s.Throttled))
	ch <- prometheus.MustNewConstMetric(asyncDropped, prometheus.CounterValue, float64(s.Failed), "failed")
	ch <- prometheus.MustNewConstMetric(asyncDropped, prometheus.CounterValue, float64(s.Expired), "expired")
	ch <- prometheus.MustNewConstMetric(asyncDropped, prometheus.CounterValue, float64(s.Dropped), "deleted")
	ch <- prometheus.MustNewConstMetric(asyncDelivered, prometheus.CounterValue, float64(s.Delivered))
}

// Configs are the stored functions whose deletion FollowConfigs follows;
// *store.Store satisfies it.
type Configs interface {
	// Changed returns a channel closed at the next change.
	Changed() <-chan struct{}
	// AllVersions returns every stored configuration.
	AllVersions() []function.Config
}

// pruneEvery is the least time between two prunes: a burst of changes
// costs one.
const pruneEvery = time.Second

// FollowConfigs drops the series of function versions that are no longer
// stored, at each change of cs, until ctx is done. account names the
// functions whose configuration names none.
func (m *Metrics) FollowConfigs(ctx context.Context, cs Configs, account string) {
	for {
		changed := cs.Changed()
		m.mu.RLock()
		n := len(m.series)
		m.mu.RUnlock()
		if n > 0 {
			live := make(map[key]bool)
			for _, c := range cs.AllVersions() {
				a := c.Account
				if a == "" {
					a = account
				}
				live[key{a, c.Name, c.Version}] = true
			}
			m.prune(func(k key) bool { return live[k] })
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pruneEvery):
		}
	}
}

// prune drops the series of every triple keep refuses, and returns how
// many it dropped. An invocation still running with dropped series counts
// into series no longer exposed.
func (m *Metrics) prune(keep func(key) bool) int {
	m.mu.Lock()
	var gone []key
	for k := range m.series {
		if !keep(k) {
			gone = append(gone, k)
			delete(m.series, k)
		}
	}
	m.mu.Unlock()
	for _, k := range gone {
		l := []string{k.account, k.function, k.version}
		m.invocations.DeleteLabelValues(l...)
		m.errors.DeleteLabelValues(l...)
		m.throttles.DeleteLabelValues(l...)
		m.coldStarts.DeleteLabelValues(l...)
		m.concurrent.DeleteLabelValues(l...)
		m.duration.DeleteLabelValues(l...)
		m.initDuration.DeleteLabelValues(l...)
	}
	return len(gone)
}
