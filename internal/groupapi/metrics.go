package groupapi

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Labels are bounded: operation (six values), result (four), source (two).
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "deepcall_api_requests_total",
		Help: "Group API calls by operation and result (success, not_found, terminal, retryable).",
	}, []string{"operation", "result"})
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "deepcall_api_request_duration_seconds",
		Help:    "Group API call latency, from sending to the decoded answer.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	}, []string{"operation"})
	throttledTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "deepcall_api_throttled_total",
		Help: "Throttled calls: server (a 429 answer) or client (waited on the local token bucket).",
	}, []string{"source"})
)

// RegisterMetrics registers the client's metrics (main passes
// controller-runtime's registry). Registering twice is harmless.
func RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{requestsTotal, requestDuration, throttledTotal} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}
