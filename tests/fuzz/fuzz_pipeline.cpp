// Fuzzes pipeline parsing and validation: any input must end in a pipeline or
// a facet::PipelineError (file:line:col messages), never in a crash or in
// another exception. Text after a line "---set" is taken as --set overrides,
// one per line.
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "facet/artifact_file.hpp"
#include "fuzz_input.hpp"
#include "pipeline.hpp"

namespace {
const facet::PluginRegistry& registry() {
  static const facet::PluginRegistry loaded = [] {
    facet::init_hdf5();
    facet::PluginRegistry r;
    const char* env = std::getenv("FACET_PLUGIN_PATH");
    r.load_dirs({env != nullptr ? env : FACET_PLUGIN_DIR});
    if (r.find("synthfaces") == nullptr) std::abort();  // no plugins: the fuzzer would learn nothing
    return r;
  }();
  return loaded;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  registry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  if (const auto at = text.find("\n---set\n"); at != std::string::npos) {
    std::istringstream lines(text.substr(at + 8));
    for (std::string line; std::getline(lines, line);) overrides.push_back(line);
    text.resize(at + 1);
  }
  const auto file = facet::fuzz::input_file(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), ".yaml");
  try {
    const auto pipeline = facet::load_pipeline(file, overrides, registry());
    (void)facet::resolved_yaml(pipeline);
  } catch (const facet::PipelineError&) {
  }
  return 0;
}
