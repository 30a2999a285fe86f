package groupapi

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Labels are bounded: account (the Accounts this process serves; an
// Account's series go with it, see ForgetAccount), operation (six values),
// result (four), source (two).
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "deepcall_api_requests_total",
		Help: "Group API calls by Account, operation and result (success, not_found, terminal, retryable).",
	}, []string{"account", "operation", "result"})
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "deepcall_api_request_duration_seconds",
		Help:    "Group API call latency, from sending to the decoded answer.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	}, []string{"account", "operation"})
	throttledTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "deepcall_api_throttled_total",
		Help: "Throttled calls: server (a 429 answer) or client (waited on the local token bucket).",
	}, []string{"account", "source"})
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

// ForgetAccount deletes the series of an Account's clients (the Account is
// gone or has no client any more), so the account label stays bounded.
func ForgetAccount(account string) {
	if account == "" {
		return
	}
	for _, v := range []*prometheus.MetricVec{requestsTotal.MetricVec, requestDuration.MetricVec, throttledTotal.MetricVec} {
		v.DeletePartialMatch(prometheus.Labels{"account": account})
	}
}
