#include "describe.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facet/markdown.hpp"

namespace facet {

std::string list_steps(const PluginRegistry& registry) {
  std::string out;
  for (const auto& [name, step] : registry.steps()) {
    out += fmt::format("{:<16} {:<8} {}\n", name, step.info.version, step.info.summary);
  }
  return out;
}

namespace {
std::string port_line(const PortSpec& port) {
  return fmt::format("  {:<16} {}{}\n", port.name, port.doc, port.optional ? " (optional)" : "");
}
/// What the step does when the runner starts several processes.
std::string parallelism_text(Parallelism p) {
  switch (p) {
    case Parallelism::Sharded:
      return "sharded: each rank computes its share of the rows, rank 0 writes what one process would";
    case Parallelism::DataParallel:
      return "data-parallel: each rank trains on its share of every batch, gradients summed";
    case Parallelism::Once:
      break;
  }
  return "once: rank 0 runs it, the other ranks read its outputs";
}

std::string allowed(const ParamSpec& p) {
  const auto range = describe_range(p);
  return range.empty() ? describe_type(p) : describe_type(p) + ", " + range;
}
}  // namespace

std::string describe_step(const RegisteredStep& step) {
  const auto& info = step.info;
  std::string out = fmt::format("{} {}: {}\n", info.name, info.version, info.summary);
  out += fmt::format("plugin: {}\n", step.library.string());
  if (!info.role.empty()) out += fmt::format("role: {}\n", info.role);
  out += fmt::format("ranks: {}\n", parallelism_text(info.parallelism));
  out += "\nparameters:\n";
  if (info.params.empty()) out += "  (none)\n";
  for (const auto& p : info.params) {
    out += fmt::format("  {:<16} {} = {}\n  {:<16} {}\n", p.name, allowed(p), format_value(p.default_value), "", p.doc);
  }
  out += "\ninputs:\n";
  if (info.inputs.empty()) out += "  (none)\n";
  for (const auto& port : info.inputs) out += port_line(port);
  out += "\noutputs:\n";
  for (const auto& port : info.outputs) out += port_line(port);
  return out;
}

std::string describe_step_markdown(const RegisteredStep& step) {
  const auto& info = step.info;
  std::string out = fmt::format("## `{}` {}\n\n{}\n\n", info.name, info.version, info.summary);
  if (!info.role.empty()) out += fmt::format("Role: {}.\n\n", info.role);
  out += fmt::format("Several ranks: {}.\n\n", parallelism_text(info.parallelism));
  out += "### Parameters\n\n";
  if (info.params.empty()) {
    out += "None.\n\n";
  } else {
    out += "| name | type | default | description |\n|---|---|---|---|\n";
    for (const auto& p : info.params) {
      out += fmt::format("| `{}` | {} | `{}` | {} |\n", p.name, markdown_cell(allowed(p)),
                         markdown_cell(format_value(p.default_value)), markdown_cell(p.doc));
    }
    out += "\n";
  }
  auto ports = [&](const char* title, const std::vector<PortSpec>& list) {
    out += fmt::format("### {}\n\n", title);
    if (list.empty()) {
      out += "None.\n\n";
      return;
    }
    for (const auto& port : list)
      out += fmt::format("- `{}`{}: {}\n", port.name, port.optional ? " (optional)" : "", port.doc);
    out += "\n";
  };
  ports("Inputs", info.inputs);
  ports("Outputs", info.outputs);
  return out;
}

}  // namespace facet
