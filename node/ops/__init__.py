"""Operations: structured logs, Prometheus metrics, profiling."""
