#include "generate.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include "cache.hpp"
#include "executor.hpp"
#include "facet/artifact_file.hpp"
#include "pipeline.hpp"

namespace facet {
namespace fs = std::filesystem;

namespace {

struct GeneratorStep {
  std::string id, uses, key;
};

/// The generator steps a run completed, from its metrics.json.
std::vector<GeneratorStep> generator_steps(const fs::path& run_dir, const PluginRegistry& registry) {
  const fs::path file = run_dir / "metrics.json";
  if (!fs::is_directory(run_dir))
    throw Error(fmt::format("--from {}: no such folder (a run folder, runs/NAME/TIMESTAMP)", run_dir.string()));
  if (!fs::exists(file)) {
    throw Error(fmt::format("--from {}: not a run folder (it has no metrics.json); pass a folder under runs/NAME/",
                            run_dir.string()));
  }
  YAML::Node metrics;
  try {
    metrics = YAML::LoadFile(file.string());  // JSON is YAML
  } catch (const YAML::Exception& e) {
    throw Error(fmt::format("{}: unreadable ({})", file.string(), e.what()));
  }
  std::vector<GeneratorStep> found;
  for (const auto& entry : metrics["steps"]) {
    const auto id = entry.first.as<std::string>();
    const auto uses = entry.second["uses"].as<std::string>();
    const auto status = entry.second["status"].as<std::string>();
    const auto* step = registry.find(uses);
    if (step == nullptr || step->info.role != "generator" || (status != "ran" && status != "cached")) continue;
    found.push_back({id, uses, entry.second["cache_key"].as<std::string>()});
  }
  return found;
}

GeneratorStep choose(const std::vector<GeneratorStep>& steps, const std::string& wanted, const fs::path& run_dir) {
  std::vector<std::string> ids;
  for (const auto& s : steps) ids.push_back(s.id);
  if (steps.empty()) {
    throw Error(fmt::format("run {} completed no generator step (draw, gan, ...): run a pipeline with one first",
                            run_dir.string()));
  }
  if (wanted.empty()) {
    if (steps.size() == 1) return steps.front();
    throw Error(fmt::format("run {} has several generator steps ({}): choose one with --step", run_dir.string(),
                            fmt::join(ids, ", ")));
  }
  for (const auto& s : steps) {
    if (s.id == wanted) return s;
  }
  throw Error(fmt::format("--step {}: not a completed generator step of run {} (generator steps: {})", wanted,
                          run_dir.string(), fmt::join(ids, ", ")));
}

/// The generator step's cached outputs (its model among them).
Artifacts cached_outputs(const GeneratorStep& generator, const GenerateOptions& o) {
  const Cache cache(o.cache_dir);
  const fs::path file = cache.path_for(generator.uses, generator.key);
  if (!fs::exists(file)) {
    throw Error(
        fmt::format("the model of step '{}' ({}) is not in the cache ({}): run `runner generate` where the "
                    "pipeline ran, pass --cache-dir, or run `runner {}` again",
                    generator.id, generator.uses, file.string(), (o.from / "pipeline.yaml").string()));
  }
  return read_artifact_file(file);
}

/// The step that draws faces from `model` (its `sampler`), asked for the
/// requested attributes and count.
StepConfig sampler_config(const Artifact& model, const GeneratorStep& generator, const PluginRegistry& registry,
                          const GenerateOptions& o) {
  if (!model.has_attr("sampler")) {
    throw Error(fmt::format("the model of step '{}' ({}) names no sampler step: its plugin predates `runner generate`",
                            generator.id, generator.uses));
  }
  const auto& sampler_name = model.attr_string("sampler");
  const RegisteredStep* sampler = registry.find(sampler_name);
  if (sampler == nullptr) {
    throw Error(fmt::format("the model of step '{}' is drawn by step '{}', which no loaded plugin provides",
                            generator.id, sampler_name));
  }
  for (const auto& spec : sampler->info.params) {
    if (spec.name == "per_request" && ((spec.min && o.count < *spec.min) || (spec.max && o.count > *spec.max))) {
      throw Error(fmt::format("--count {}: must be {} (the faces {} draws in one call)", o.count, describe_range(spec),
                              sampler_name));
    }
  }
  YAML::Node with;
  with["requests"].push_back(o.attributes);
  with["per_request"] = o.count;
  StepConfig config;
  config.id = "generate";
  config.step = sampler;
  config.params = parse_step_params(*sampler, YAML::Dump(with));
  return config;
}

}  // namespace

void generate(const GenerateOptions& o, const PluginRegistry& registry, RunLog& log) {
  if (o.out.extension() != ".png")
    throw Error(fmt::format("--out {}: faces are written as PNG; name a .png file", o.out.string()));
  const fs::path out_dir = o.out.parent_path().empty() ? fs::path(".") : o.out.parent_path();
  if (!fs::is_directory(out_dir))
    throw Error(fmt::format("--out {}: folder {} does not exist", o.out.string(), out_dir.string()));

  const auto generator = choose(generator_steps(o.from, registry), o.step, o.from);
  Artifacts outputs = cached_outputs(generator, o);
  const Artifact& model = outputs.at("model");
  const StepConfig config = sampler_config(model, generator, registry, o);

  const int threads = intra_op_threads(0);
  torch::set_num_threads(threads);
  log.write(LogLevel::Info, "generate",
            fmt::format("{} faces for \"{}\" from step '{}' ({}) of {}", o.count, o.attributes, generator.id,
                        generator.uses, o.from.string()));
  const fs::path scratch = out_dir / fmt::format(".facet-generate-{}.h5", ::getpid());
  StepRun run{config, o.seed, "generate", torch::kCPU, threads, out_dir};
  Artifacts samples;
  try {
    samples = run_step(run, {{"model", model}}, scratch, log);
  } catch (const std::exception& e) {
    // Rethrown as the runner's own: the plugin's exception object must not
    // outlive this frame (its destructor is code in the plugin library).
    fs::remove(scratch);
    const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
    throw Error(torch_error != nullptr ? torch_error->what_without_backtrace() : e.what());
  }
  fs::remove(scratch);
  write_bytes(samples.at(kFilesGroup).get("samples.png"), o.out);
  log.write(LogLevel::Info, "generate", fmt::format("wrote {}", o.out.string()));
}

}  // namespace facet
