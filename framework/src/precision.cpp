#include "facet/precision.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace facet {

namespace {

std::string cpuinfo_text() {
  const char* file = std::getenv("FACET_CPUINFO");
  std::ifstream in(file != nullptr && *file != '\0' ? file : "/proc/cpuinfo");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The value of the first line of /proc/cpuinfo that starts with `key`.
std::string cpuinfo_field(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(key, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto start = line.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? std::string() : line.substr(start);
  }
  return {};
}

}  // namespace

ParamSpec precision_spec() {
  return ParamSpec::choice("precision", "auto", {"auto", "fp32", "bf16"},
                           "arithmetic of the forward passes: bf16 runs matrix products and convolutions in bfloat16 "
                           "(float32 weights, losses and metrics); auto: bf16 where the CPU has native bfloat16 "
                           "units, else fp32 (default: the pipeline's precision)");
}

bool cpu_has_native_bf16() {
  std::istringstream flags(" " + cpuinfo_field(cpuinfo_text(), "flags") + " ");
  for (std::string flag; flags >> flag;) {
    if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
  }
  return false;
}

std::string cpu_model_name() {
  const auto name = cpuinfo_field(cpuinfo_text(), "model name");
  return name.empty() ? std::string("this CPU") : name;
}

namespace {

// LibTorch 2.4 keys autocast by device type; older versions have a switch per device.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
void set_autocast(bool cuda, bool enabled, c10::ScalarType dtype) {
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, dtype);
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, enabled);
}
c10::ScalarType autocast_dtype(bool cuda) { return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU); }
#else
bool autocast_enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void set_autocast(bool cuda, bool enabled, c10::ScalarType dtype) {
  if (cuda) {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  }
}
c10::ScalarType autocast_dtype(bool cuda) {
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
#endif

}  // namespace

c10::optional<c10::ScalarType> active_autocast_dtype(torch::Device device) {
  if (!autocast_enabled(device.is_cuda())) return c10::nullopt;
  return autocast_dtype(device.is_cuda());
}

Autocast::Autocast(const std::string& precision, torch::Device device) {
  if (precision != "bf16") return;
  active_ = true;
  cuda_ = device.is_cuda();
  was_enabled_ = autocast_enabled(cuda_);
  was_dtype_ = autocast_dtype(cuda_);
  set_autocast(cuda_, true, at::kBFloat16);
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  if (!active_) return;
  // Leaving the outermost scope drops the bfloat16 copies of the weights cached while it ran.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(cuda_, was_enabled_, was_dtype_);
}

}  // namespace facet
