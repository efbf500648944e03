#pragma once

#include <string>

#include <c10/core/ScalarType.h>
#include <torch/types.h>

#include "facet/export.hpp"
#include "facet/params.hpp"

namespace facet {

/// The `precision` parameter (auto, fp32, bf16) of a step whose forward
/// passes may run in bfloat16. The runner fills it from the pipeline's
/// top-level `precision:` unless the step's `with:` sets it, and resolves
/// `auto` before the step (and its cache key) sees it: a step reads fp32 or
/// bf16, never auto.
FACET_API ParamSpec precision_spec();

/// True where the CPU has native bfloat16 arithmetic: AVX-512 BF16 or AMX
/// (the flags avx512_bf16 or amx_bf16 of /proc/cpuinfo, or of the file
/// FACET_CPUINFO names, which tests use to stand for other CPUs).
FACET_API bool cpu_has_native_bf16();

/// The CPU's model name, for messages ("Intel(R) Xeon(R) Platinum 8488C").
FACET_API std::string cpu_model_name();

/// The lower precision that autocast gives matrix products and convolutions
/// on `device` right now, or nullopt outside an Autocast scope. For operations
/// of a plugin's own that autocast does not know (a custom autograd function).
FACET_API c10::optional<c10::ScalarType> active_autocast_dtype(torch::Device device);

/// LibTorch's autocast for one scope. With precision "bf16", matrix products
/// and convolutions on `device` run in bfloat16 while the weights stay
/// float32 (their gradients too); precision "fp32" changes nothing. Cast what
/// leaves the scope to float32 (losses, metrics, stored features).
class FACET_API Autocast {
 public:
  Autocast(const std::string& precision, torch::Device device);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::ScalarType::Float;
};

}  // namespace facet
