// Whether differentiable ops record the graph. Thread-local, like PyTorch:
// no_grad() in one thread does not affect another.
#pragma once

namespace tt {

struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// RAII guard used by the engine (and by no_grad in the Python glue).
struct GradModeGuard {
  bool prev;
  explicit GradModeGuard(bool enabled) : prev(GradMode::is_enabled()) { GradMode::set_enabled(enabled); }
  ~GradModeGuard() { GradMode::set_enabled(prev); }
};

// Anomaly detection (tinytorch.autograd.detect_anomaly): the engine checks
// every gradient a node produces for NaN/Inf, and nodes remember where their
// forward op was created.
struct AnomalyMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

}  // namespace tt
