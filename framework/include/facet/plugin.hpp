#pragma once

// Include this header in a plugin's sources (never in the core) and register
// each step with one line at the bottom of its own file:
//
//     FACET_REGISTER_STEP(SynthFaces);
//
// The plugin exports two Boost.DLL aliases: `facet_plugin_abi`, a C function
// the runner calls first to check FACET_SDK_ABI_VERSION, and
// `facet_plugin_steps`, the factories of the steps registered in this library.

#include <cstdint>
#include <vector>

#include <boost/dll/alias.hpp>

#include "facet/artifact.hpp"
#include "facet/context.hpp"
#include "facet/errors.hpp"
#include "facet/export.hpp"
#include "facet/params.hpp"
#include "facet/step.hpp"

namespace facet {
namespace FACET_LOCAL plugin_detail {

// Local to each library, so every plugin holds its own list.
inline std::vector<StepFactory>& registry() {
  static std::vector<StepFactory> factories;
  return factories;
}

struct Registrar {
  explicit Registrar(StepFactory factory) { registry().push_back(factory); }
};

inline std::uint32_t abi_version() { return FACET_SDK_ABI_VERSION; }
inline const std::vector<StepFactory>* step_factories() { return &registry(); }

}  // namespace plugin_detail
}  // namespace facet

BOOST_DLL_ALIAS(facet::plugin_detail::abi_version, facet_plugin_abi)
BOOST_DLL_ALIAS(facet::plugin_detail::step_factories, facet_plugin_steps)

/// Registers step class `cls` (default-constructible, derived from facet::Step).
#define FACET_REGISTER_STEP(cls)                                        \
  static const ::facet::plugin_detail::Registrar facet_registrar_##cls( \
      []() -> std::unique_ptr<::facet::Step> { return std::make_unique<cls>(); })
