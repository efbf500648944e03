#pragma once

#include <string>

#include "plugin_registry.hpp"

namespace facet {

/// `runner plugins`: one line per step with its version and summary.
std::string list_steps(const PluginRegistry& registry);
/// `runner describe STEP`: parameters, inputs and outputs in plain text.
std::string describe_step(const RegisteredStep& step);
/// The same as Markdown: the body of a plugin's README.
std::string describe_step_markdown(const RegisteredStep& step);

}  // namespace facet
