// tinytorch._C's engine-profiler functions (the recorder is csrc/core/profiler.cpp);
// tinytorch.perf.profiling.Profiler is the user-facing side.
#include "core/profiler.h"
#include "python/convert.h"

namespace ttpy {

namespace {
const char* kind_name(tt::prof::Kind k) {
  switch (k) {
    case tt::prof::Kind::Forward: return "forward";
    case tt::prof::Kind::Backward: return "backward";
    case tt::prof::Kind::Kernel: return "kernel";
    case tt::prof::Kind::User: return "user";
  }
  return "user";
}
}  // namespace

void bind_profiler(py::module_& m) {
  m.def("_profiler_set_enabled", &tt::prof::set_enabled, py::arg("on"),
        "Switch the engine recorder on or off (events and counters are kept until _profiler_reset).");
  m.def("_profiler_enabled", &tt::prof::enabled);
  m.def("_profiler_reset", &tt::prof::reset, "Drop recorded events and zero the allocator counters.");
  m.def("_profiler_now_ns", &tt::prof::now_ns, "The recorder's clock (steady, nanoseconds).");
  m.def("_profiler_record", [](const std::string& name, int64_t start_ns, int64_t end_ns) {
    if (end_ns < start_ns)
      throw tt::ValueError("record_function: the range ends (" + std::to_string(end_ns) + ") before it starts (" +
                           std::to_string(start_ns) + "); pass times from _profiler_now_ns in order");
    if (tt::prof::enabled()) tt::prof::record(tt::prof::Kind::User, name, start_ns, end_ns);
  }, py::arg("name"), py::arg("start_ns"), py::arg("end_ns"));
  m.def("_profiler_events", [] {
    // One tuple per event: (name, kind, start_ns, dur_ns, flops, thread); start is since the session began.
    std::vector<tt::prof::Event> evs;
    {
      py::gil_scoped_release nogil;  // the recorder's mutex may be held by a thread in a kernel
      evs = tt::prof::events();
    }
    py::list out;
    for (const auto& e : evs)
      out.append(py::make_tuple(e.name, kind_name(e.kind), e.start_ns, e.dur_ns, e.flops, e.thread));
    return out;
  });
  m.def("_profiler_memory", [] {
    tt::prof::MemoryStats s = tt::prof::memory();
    py::dict d;
    d["allocations"] = s.allocations;
    d["requested_bytes"] = s.requested_bytes;
    d["block_bytes"] = s.block_bytes;
    d["frees"] = s.frees;
    d["live_bytes"] = s.live_bytes;
    d["peak_live_bytes"] = s.peak_live_bytes;
    return d;
  });
}

}  // namespace ttpy
