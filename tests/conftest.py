"""Suite-wide settings."""

from hypothesis import HealthCheck, settings

# CI runs on 2 shared cores: wall-clock deadlines and "too slow" health checks would make
# property tests fail on load, not on behaviour. Speed is measured by benchmarks instead.
settings.register_profile(
    "vid2vid",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("vid2vid")
