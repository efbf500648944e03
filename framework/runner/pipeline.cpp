#include "pipeline.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <queue>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/cuda.h>
#include <yaml-cpp/yaml.h>

#include "facet/precision.hpp"
#include "text_util.hpp"

namespace facet {
namespace fs = std::filesystem;

PipelineError::PipelineError(std::vector<std::string> messages)
    : Error(messages.empty() ? std::string("invalid pipeline") : messages.front()), messages_(std::move(messages)) {}

const StepConfig* Pipeline::find(const std::string& id) const {
  const auto it = index_.find(id);
  return it == index_.end() ? nullptr : &steps[it->second];
}

void Pipeline::add_step(StepConfig step) {
  index_.emplace(step.id, steps.size());  // a duplicate id keeps finding the first
  steps.push_back(std::move(step));
}

namespace {

const std::vector<std::string> kTopKeys = {"name", "seed", "device", "threads", "precision", "steps"};
const std::vector<std::string> kStepKeys = {"uses", "with", "inputs"};

/// What precision: auto means: bf16 on a CPU with native bfloat16 units,
/// fp32 on other CPUs and on CUDA (where bf16 is asked for by name).
std::string auto_precision(bool cuda, bool native_bf16) { return !cuda && native_bf16 ? "bf16" : "fp32"; }

/// Parses and validates; collects every error instead of stopping at the first.
class Parser {
 public:
  Parser(fs::path file, const PluginRegistry* registry) : file_(std::move(file)), registry_(registry) {}

  Pipeline parse(const std::vector<std::string>& overrides) {
    YAML::Node root = load_document();
    for (const auto& o : overrides) apply_override(root, o);
    if (!errors_.empty()) throw PipelineError(errors_);
    Pipeline p;
    p.file = file_;
    p.name = file_.stem().string();
    if (!root.IsMap()) {
      fail(where(root, ""), "a pipeline is a mapping with keys: " + join(kTopKeys));
      throw PipelineError(errors_);
    }
    check_keys(root, "", kTopKeys, "top-level key");
    if (auto n = root["name"]) p.name = name(n);
    if (auto n = root["seed"]) p.seed = static_cast<std::uint64_t>(integer(n, "seed", 0, std::nullopt));
    if (auto n = root["threads"]) p.threads = static_cast<int>(integer(n, "threads", 0, 1024));
    if (auto n = root["device"]) p.device = device(n);
    cuda_ = p.device != "cpu";
    if (auto n = root["precision"]) p.precision = precision_ = top_precision(n);
    parse_steps(root["steps"], p);
    if (errors_.empty()) order(p);
    if (!errors_.empty()) throw PipelineError(errors_);
    return p;
  }

  /// The `with:` mapping of one step, outside any pipeline.
  Params parse_with(const RegisteredStep& step, const std::string& text) {
    StepConfig cfg;
    cfg.id = step.info.name;
    cfg.step = &step;
    YAML::Node with;
    try {
      with = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw PipelineError({fmt::format("{}: error: YAML syntax: {}", file_.string(), e.msg)});
    }
    parse_params(with, "with", cfg);
    if (!errors_.empty()) throw PipelineError(errors_);
    return cfg.params;
  }

 private:
  YAML::Node load_document() {
    std::error_code ec;
    if (fs::is_directory(file_, ec)) {
      throw PipelineError({fmt::format("{}: error: a folder, not a pipeline file", file_.string())});
    }
    std::ifstream in(file_);
    if (!in) throw PipelineError({fmt::format("{}: error: cannot read the pipeline file", file_.string())});
    try {
      YAML::Node root = YAML::Load(in);
      if (!root) throw PipelineError({fmt::format("{}: error: the pipeline file is empty", file_.string())});
      return root;
    } catch (const YAML::Exception& e) {
      throw PipelineError(
          {fmt::format("{}:{}:{}: error: YAML syntax: {}", file_.string(), e.mark.line + 1, e.mark.column + 1, e.msg)});
    }
  }

  // --set steps.backbone.with.trainable_from=conv5_1
  void apply_override(YAML::Node& root, const std::string& text) {
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) {
      errors_.push_back(fmt::format("--set {}: error: expected PATH=VALUE, e.g. steps.faces.with.count=100", text));
      return;
    }
    const std::string path = text.substr(0, eq);
    auto bad = [&](const std::string& why) { errors_.push_back(fmt::format("--set {}: error: {}", text, why)); };
    if (!root.IsMap()) return bad(fmt::format("{} is not a mapping, so nothing in it can be set", file_.string()));
    if (eq + 1 == text.size()) return bad(fmt::format("no value after '=' (e.g. {}=10)", path));
    YAML::Node value;
    try {
      value = YAML::Load(text.substr(eq + 1));
    } catch (const YAML::Exception& e) {
      return bad(fmt::format("the value is not valid YAML: {}", e.msg));
    }
    std::vector<std::string> parts;
    std::stringstream ss(path + ".");  // a trailing '.' still yields its empty last part
    for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
    if (std::find(parts.begin(), parts.end(), "") != parts.end()) {
      return bad(fmt::format("'{}' has an empty name between dots (e.g. steps.faces.with.count=10)", path));
    }
    if (parts[0] == "steps" && parts.size() > 2 && root.IsMap()) {
      // Setting a value of a step that does not exist is a typo, not a new step.
      const YAML::Node steps = root["steps"];
      if (steps.IsMap() && !steps[parts[1]]) {
        std::vector<std::string> ids;
        for (auto it = steps.begin(); it != steps.end(); ++it) ids.push_back(it->first.Scalar());
        return bad(fmt::format("no step '{}' in {}{} (steps: {})", parts[1], file_.string(),
                               did_you_mean(parts[1], ids), join(ids)));
      }
    }
    YAML::Node node(root);
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      if (node[parts[i]] && !node[parts[i]].IsMap()) {
        errors_.push_back(fmt::format("--set {}: error: '{}' is not a mapping", text,
                                      fmt::join(parts.begin(), parts.begin() + static_cast<long>(i) + 1, ".")));
        return;
      }
      YAML::Node child = node[parts[i]];
      node.reset(child);
    }
    node[parts.back()] = value;
    overridden_[path] = "--set " + text;
  }

  // Location of the node at dotted `path`: the --set that wrote it, or file:line:col.
  std::string where(const YAML::Node& node, const std::string& path) const {
    for (const auto& [prefix, text] : overridden_) {
      if (path == prefix || path.rfind(prefix + ".", 0) == 0) return text;
    }
    const auto mark = node.Mark();
    if (mark.is_null()) return file_.string();
    return fmt::format("{}:{}:{}", file_.string(), mark.line + 1, mark.column + 1);
  }

  void fail(const std::string& location, const std::string& message) {
    errors_.push_back(fmt::format("{}: error: {}", location, message));
  }

  static std::string join(const std::vector<std::string>& v) { return fmt::format("{}", fmt::join(v, ", ")); }

  void check_keys(const YAML::Node& map, const std::string& path, const std::vector<std::string>& known,
                  const std::string& what) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      const auto key = it->first.as<std::string>();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        fail(where(it->first, path.empty() ? key : path + "." + key),
             fmt::format("unknown {} '{}'{} (expected: {})", what, key, did_you_mean(key, known), join(known)));
      }
    }
  }

  std::string scalar(const YAML::Node& n, const std::string& path, const std::string& expected) {
    if (!n.IsScalar()) {
      fail(where(n, path), fmt::format("'{}' must be {}", path, expected));
      return {};
    }
    return n.Scalar();
  }

  std::int64_t integer(const YAML::Node& n, const std::string& path, std::optional<std::int64_t> lo,
                       std::optional<std::int64_t> hi) {
    std::int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<std::int64_t>::decode(n, v)) {
      fail(where(n, path),
           fmt::format("'{}' must be an integer, got '{}'", path, n.IsScalar() ? n.Scalar() : "a collection"));
      return 0;
    }
    if ((lo && v < *lo) || (hi && v > *hi)) {
      fail(where(n, path),
           fmt::format(
               "'{}' must be {}, got {}", path,
               hi ? fmt::format("between {} and {}", lo.value_or(0), *hi) : fmt::format(">= {}", lo.value_or(0)), v));
    }
    return v;
  }

  /// The pipeline's name becomes a folder under --runs-dir: one plain name.
  std::string name(const YAML::Node& n) {
    const auto text = scalar(n, "name", "a string");
    static const std::regex pattern("[A-Za-z0-9][A-Za-z0-9_.-]*");
    if (!std::regex_match(text, pattern) || text.size() > 128) {
      fail(where(n, "name"), fmt::format("pipeline name '{}' must be a plain folder name: letters, digits, '_', '-' "
                                         "or '.', starting with a letter or digit, at most 128 characters",
                                         text));
    }
    return text;
  }

  std::string device(const YAML::Node& n) {
    const auto d = scalar(n, "device", "cpu, cuda or cuda:N");
    static const std::regex pattern("cpu|cuda(:[0-9]+)?");
    if (!std::regex_match(d, pattern)) {
      fail(where(n, "device"), fmt::format("unknown device '{}' (expected cpu, cuda or cuda:N)", d));
    } else if (d != "cpu" && !torch::cuda::is_available()) {
      fail(where(n, "device"),
           fmt::format("device '{}' asked for, but no CUDA GPU is available to this LibTorch{}; use device: cpu", d,
                       torch::cuda::is_available() ? "" : " (CPU-only build or no GPU)"));
    } else if (d.size() > 5 && std::stoll(d.substr(5)) >= static_cast<long long>(torch::cuda::device_count())) {
      fail(where(n, "device"),
           fmt::format("device '{}' does not exist: {} CUDA device(s)", d, torch::cuda::device_count()));
    }
    return d;
  }

  void parse_steps(const YAML::Node& steps, Pipeline& p) {
    if (!steps) {
      fail(file_.string(), "the pipeline has no 'steps'");
      return;
    }
    if (!steps.IsMap() || steps.size() == 0) {
      fail(where(steps, "steps"), "'steps' must be a non-empty mapping of step id to {uses, with, inputs}");
      return;
    }
    static const std::regex id_pattern("[A-Za-z_][A-Za-z0-9_-]*");
    std::vector<YAML::Node> nodes;  // each step's mapping: looking it up by id in `steps` is linear
    for (auto it = steps.begin(); it != steps.end(); ++it) {
      StepConfig cfg;
      cfg.id = it->first.as<std::string>();
      const std::string path = "steps." + cfg.id;
      cfg.where = where(it->first, path);
      if (!std::regex_match(cfg.id, id_pattern)) {
        fail(cfg.where, fmt::format("step id '{}' must be letters, digits, '_' or '-'", cfg.id));
      }
      if (p.find(cfg.id) != nullptr) fail(cfg.where, fmt::format("duplicate step id '{}'", cfg.id));
      parse_step(it->second, path, cfg);
      p.add_step(std::move(cfg));
      nodes.push_back(it->second);
    }
    for (size_t i = 0; i < p.steps.size(); ++i) check_inputs(nodes[i], p, p.steps[i]);
  }

  void parse_step(const YAML::Node& node, const std::string& path, StepConfig& cfg) {
    if (!node.IsMap()) {
      fail(where(node, path),
           fmt::format("step '{}' must be a mapping with 'uses' (and optionally 'with', 'inputs')", cfg.id));
      return;
    }
    check_keys(node, path, kStepKeys, fmt::format("key in step '{}'", cfg.id));
    const auto uses = node["uses"];
    if (!uses) {
      fail(cfg.where, fmt::format("step '{}' has no 'uses: STEP_NAME'", cfg.id));
      return;
    }
    const auto name = scalar(uses, path + ".uses", "a step name");
    cfg.step = registry_->find(name);
    if (cfg.step == nullptr) {
      fail(where(uses, path + ".uses"), fmt::format("unknown step '{}'{} (known steps: {})", name,
                                                    did_you_mean(name, registry_->names()), join(registry_->names())));
      return;
    }
    parse_params(node["with"], path + ".with", cfg);
  }

  std::string step_label(const StepConfig& cfg) const {
    return fmt::format("step '{}' ({})", cfg.id, cfg.step->info.name);
  }

  void parse_params(const YAML::Node& with, const std::string& path, StepConfig& cfg) {
    const auto& specs = cfg.step->info.params;
    std::map<std::string, ParamValue> values;
    for (const auto& spec : specs) values[spec.name] = spec.default_value;
    if (with && !with.IsNull()) {
      if (!with.IsMap()) {
        fail(where(with, path), fmt::format("'with' of {} must be a mapping of parameter to value", step_label(cfg)));
      } else {
        std::vector<std::string> names;
        for (const auto& s : specs) names.push_back(s.name);
        for (auto it = with.begin(); it != with.end(); ++it) {
          const auto key = it->first.as<std::string>();
          auto spec = std::find_if(specs.begin(), specs.end(), [&](const ParamSpec& s) { return s.name == key; });
          if (spec == specs.end()) {
            fail(where(it->first, path + "." + key),
                 fmt::format("{} has no parameter '{}'{} (parameters: {})", step_label(cfg), key,
                             did_you_mean(key, names), names.empty() ? "none" : join(names)));
            continue;
          }
          if (auto v = convert(it->second, *spec, path + "." + key, cfg)) values[key] = *v;
        }
      }
    }
    if (std::any_of(specs.begin(), specs.end(), [](const ParamSpec& s) { return s.name == "precision"; })) {
      const bool own = with && with.IsMap() && with["precision"];
      const auto requested = own ? std::get<std::string>(values["precision"]) : precision_;
      values["precision"] = step_precision(requested, own ? where(with["precision"], path + ".precision") : "");
    }
    cfg.params = Params(std::move(values));
  }

  // The pipeline's `precision:`; bf16 on a CPU without bfloat16 units is refused here, once.
  std::string top_precision(const YAML::Node& n) {
    const auto text = scalar(n, "precision", "auto, fp32 or bf16");
    if (text != "auto" && text != "fp32" && text != "bf16") {
      fail(where(n, "precision"), fmt::format("unknown precision '{}' (expected auto, fp32 or bf16){}", text,
                                              did_you_mean(text, {"auto", "fp32", "bf16"})));
      return "auto";
    }
    if (text == "bf16" && !bf16_allowed()) {
      fail(where(n, "precision"), no_bf16_message());
      return "fp32";
    }
    return text;
  }

  // What a step computes in: auto resolved, bf16 refused where it would only be emulated.
  // `location` is set when the step's own `with:` asked (else the pipeline's value was checked).
  std::string step_precision(const std::string& requested, const std::string& location) {
    if (requested == "auto") return auto_precision(cuda_, !cuda_ && bf16_allowed());
    if (requested == "bf16" && !location.empty() && !bf16_allowed()) fail(location, no_bf16_message());
    return requested;
  }

  bool bf16_allowed() {
    if (cuda_) return true;
    if (!native_bf16_) native_bf16_ = cpu_has_native_bf16();
    return *native_bf16_;
  }

  static std::string no_bf16_message() {
    return fmt::format(
        "precision bf16 asked for, but this CPU ({}) has no native bfloat16 units (neither avx512_bf16 nor "
        "amx_bf16 among its flags): bfloat16 would be emulated, slower than float32. Use precision: fp32, or auto, "
        "which picks bf16 only where the CPU has it",
        cpu_model_name());
  }

  std::optional<ParamValue> convert(const YAML::Node& n, const ParamSpec& spec, const std::string& path,
                                    const StepConfig& cfg) {
    const auto expected = describe_type(spec) + (describe_range(spec).empty() ? "" : ", " + describe_range(spec));
    auto bad = [&](const std::string& got) {
      fail(where(n, path),
           fmt::format("{}: parameter '{}' must be {}, got {}", step_label(cfg), spec.name, expected, got));
      return std::nullopt;
    };
    const std::string shown = n.IsScalar() ? "'" + n.Scalar() + "'" : n.IsSequence() ? "a list" : "a mapping";
    auto in_range = [&](double v) { return (!spec.min || v >= *spec.min) && (!spec.max || v <= *spec.max); };
    auto as_int = [&](const YAML::Node& s, std::int64_t& v) {
      return s.IsScalar() && YAML::convert<std::int64_t>::decode(s, v);
    };
    auto as_float = [&](const YAML::Node& s, double& v) {
      return s.IsScalar() && YAML::convert<double>::decode(s, v) && std::isfinite(v);
    };
    switch (spec.type) {
      case ParamType::Bool: {
        bool v = false;
        if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) return bad(shown);
        return v;
      }
      case ParamType::Int: {
        std::int64_t v = 0;
        if (!as_int(n, v)) return bad(shown);
        if (!in_range(static_cast<double>(v))) return bad(std::to_string(v));
        return v;
      }
      case ParamType::Float: {
        double v = 0;
        if (!as_float(n, v)) return bad(shown);
        if (!in_range(v)) return bad(format_value(v));
        return v;
      }
      case ParamType::String:
      case ParamType::Path:
        if (!n.IsScalar()) return bad(shown);
        return n.Scalar();
      case ParamType::Choice:
        if (!n.IsScalar()) return bad(shown);
        if (std::find(spec.choices.begin(), spec.choices.end(), n.Scalar()) == spec.choices.end()) {
          return bad(shown + did_you_mean(n.Scalar(), spec.choices));
        }
        return n.Scalar();
      case ParamType::IntList: {
        if (!n.IsSequence()) return bad(shown);
        std::vector<std::int64_t> list;
        for (const auto& item : n) {
          std::int64_t v = 0;
          if (!as_int(item, v) || !in_range(static_cast<double>(v)))
            return bad(fmt::format("element {}", item.IsScalar() ? item.Scalar() : "?"));
          list.push_back(v);
        }
        return list;
      }
      case ParamType::FloatList: {
        if (!n.IsSequence()) return bad(shown);
        std::vector<double> list;
        for (const auto& item : n) {
          double v = 0;
          if (!as_float(item, v) || !in_range(v))
            return bad(fmt::format("element {}", item.IsScalar() ? item.Scalar() : "?"));
          list.push_back(v);
        }
        return list;
      }
      case ParamType::StringList: {
        if (!n.IsSequence()) return bad(shown);
        std::vector<std::string> list;
        for (const auto& item : n) {
          if (!item.IsScalar()) return bad("a nested collection");
          list.push_back(item.Scalar());
        }
        return list;
      }
    }
    return std::nullopt;
  }

  void check_inputs(const YAML::Node& node, const Pipeline& p, StepConfig& cfg) {
    if (cfg.step == nullptr || !node.IsMap()) return;
    const std::string path = "steps." + cfg.id + ".inputs";
    const auto& ports = cfg.step->info.inputs;
    std::vector<std::string> port_names;
    for (const auto& port : ports) port_names.push_back(port.name);
    const auto inputs = node["inputs"];
    if (inputs && !inputs.IsNull() && !inputs.IsMap()) {
      fail(where(inputs, path),
           fmt::format("'inputs' of {} must be a mapping of input to STEP.OUTPUT", step_label(cfg)));
    } else if (inputs) {
      for (auto it = inputs.begin(); it != inputs.end(); ++it) {
        const auto port = it->first.as<std::string>();
        const auto at = where(it->second, path + "." + port);
        if (std::find(port_names.begin(), port_names.end(), port) == port_names.end()) {
          fail(where(it->first, path + "." + port),
               fmt::format("{} has no input '{}'{} (inputs: {})", step_label(cfg), port, did_you_mean(port, port_names),
                           port_names.empty() ? "none" : join(port_names)));
          continue;
        }
        const auto ref = it->second.IsScalar() ? it->second.Scalar() : std::string();
        const auto dot = ref.find('.');
        if (dot == std::string::npos) {
          fail(at, fmt::format("input '{}' of {} must be STEP.OUTPUT, got '{}'", port, step_label(cfg), ref));
          continue;
        }
        InputRef in{ref.substr(0, dot), ref.substr(dot + 1)};
        const StepConfig* source = p.find(in.step);
        if (source == nullptr) {
          std::vector<std::string> ids;
          for (const auto& s : p.steps) ids.push_back(s.id);
          fail(at, fmt::format("input '{}' of {} names step '{}', which is not in this pipeline{} (steps: {})", port,
                               step_label(cfg), in.step, did_you_mean(in.step, ids), join(ids)));
          continue;
        }
        if (source->step == nullptr) continue;  // already reported
        std::vector<std::string> outs;
        for (const auto& o : source->step->info.outputs) outs.push_back(o.name);
        if (std::find(outs.begin(), outs.end(), in.output) == outs.end()) {
          fail(at,
               fmt::format("input '{}' of {} names output '{}' of {}, which does not exist{} (its outputs: {})", port,
                           step_label(cfg), in.output, step_label(*source), did_you_mean(in.output, outs), join(outs)));
          continue;
        }
        cfg.inputs[port] = in;
      }
    }
    for (const auto& port : ports) {
      if (!port.optional && cfg.inputs.count(port.name) == 0 && !(inputs && inputs[port.name])) {
        fail(cfg.where, fmt::format("input '{}' of {} is not connected; add inputs: {{{}: STEP.OUTPUT}}", port.name,
                                    step_label(cfg), port.name));
      }
    }
  }

  // Kahn's algorithm, taking the earliest step in the file when several are ready.
  void order(Pipeline& p) {
    const size_t n = p.steps.size();
    std::vector<size_t> waiting_for(n, 0);          // inputs from steps not yet ordered
    std::vector<std::vector<size_t>> consumers(n);  // who takes an input from step i
    for (size_t i = 0; i < n; ++i) {
      std::set<std::string> sources;
      for (const auto& [port, in] : p.steps[i].inputs) sources.insert(in.step);
      for (const auto& source : sources) {
        const auto j = static_cast<size_t>(p.find(source) - p.steps.data());
        consumers[j].push_back(i);
        ++waiting_for[i];
      }
    }
    std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
    for (size_t i = 0; i < n; ++i) {
      if (waiting_for[i] == 0) ready.push(i);
    }
    std::vector<size_t> ordered;
    while (!ready.empty()) {
      const size_t i = ready.top();
      ready.pop();
      ordered.push_back(i);
      for (size_t c : consumers[i]) {
        if (--waiting_for[c] == 0) ready.push(c);
      }
    }
    if (ordered.size() < n) {
      std::set<std::string> done;
      for (size_t i : ordered) done.insert(p.steps[i].id);
      report_cycle(p, done);
      return;
    }
    std::vector<StepConfig> steps;
    steps.reserve(n);
    for (size_t i : ordered) steps.push_back(std::move(p.steps[i]));
    p.steps.clear();
    for (auto& step : steps) p.add_step(std::move(step));
  }

  void report_cycle(const Pipeline& p, const std::set<std::string>& done) {
    // Walk upstream from any blocked step until a step repeats.
    const StepConfig* cur = nullptr;
    for (const auto& s : p.steps) {
      if (done.count(s.id) == 0) {
        cur = &s;
        break;
      }
    }
    std::vector<std::string> trail;
    while (std::find(trail.begin(), trail.end(), cur->id) == trail.end()) {
      trail.push_back(cur->id);
      for (const auto& in : cur->inputs) {
        if (done.count(in.second.step) == 0) {
          cur = p.find(in.second.step);
          break;
        }
      }
    }
    auto start = std::find(trail.begin(), trail.end(), cur->id);
    std::vector<std::string> cycle(start, trail.end());
    std::reverse(cycle.begin(), cycle.end());  // data flows upstream -> downstream
    // Start the cycle at the step that comes first in the file.
    auto position = [&](const std::string& id) {
      return std::find_if(p.steps.begin(), p.steps.end(), [&](const StepConfig& s) { return s.id == id; });
    };
    std::rotate(cycle.begin(),
                std::min_element(cycle.begin(), cycle.end(),
                                 [&](const auto& a, const auto& b) { return position(a) < position(b); }),
                cycle.end());
    cycle.push_back(cycle.front());
    fail(p.find(cycle.front())->where, fmt::format("the steps form a cycle: {}", fmt::join(cycle, " -> ")));
  }

  fs::path file_;
  const PluginRegistry* registry_;  // null when parsing a lone step
  bool cuda_ = false;
  std::string precision_ = "auto";   // the pipeline's precision, for steps that do not set their own
  std::optional<bool> native_bf16_;  // read from the CPU once
  std::map<std::string, std::string> overridden_;
  std::vector<std::string> errors_;
};

}  // namespace

Pipeline load_pipeline(const fs::path& file, const std::vector<std::string>& overrides,
                       const PluginRegistry& registry) {
  try {
    return Parser(file, &registry).parse(overrides);
  } catch (const YAML::Exception& e) {
    // A shape the checks above did not foresee (a key that is a list, say): still a located error.
    const std::string at =
        e.mark.is_null() ? file.string() : fmt::format("{}:{}:{}", file.string(), e.mark.line + 1, e.mark.column + 1);
    throw PipelineError({fmt::format("{}: error: {}", at, e.msg)});
  }
}

Params parse_step_params(const RegisteredStep& step, const std::string& with_yaml) {
  return Parser("<with>", nullptr).parse_with(step, with_yaml);
}

std::string precision_summary(const Pipeline& p) {
  if (p.precision != "auto") return "precision " + p.precision;
  if (p.device != "cpu") {
    return fmt::format("precision auto: {} on CUDA (set precision: bf16 for bfloat16)", auto_precision(true, false));
  }
  const bool native = cpu_has_native_bf16();
  return fmt::format("precision auto: {}, {} has {}native bfloat16 units", auto_precision(false, native),
                     cpu_model_name(), native ? "" : "no ");
}

std::string resolved_yaml(const Pipeline& p) {
  std::string out = fmt::format("# resolved from {} (every parameter, defaults included)\n", p.file.string());
  out += fmt::format("name: {}\nseed: {}\ndevice: {}\nthreads: {}\nprecision: {}\nsteps:\n", p.name, p.seed, p.device,
                     p.threads, p.precision);
  for (const auto& s : p.steps) {
    out += fmt::format("  {}:\n    uses: {}  # version {}\n", s.id, s.step->info.name, s.step->info.version);
    if (!s.params.values().empty()) {
      out += "    with:\n";
      for (const auto& [name, value] : s.params.values())
        out += fmt::format("      {}: {}\n", name, format_value(value));
    }
    if (!s.inputs.empty()) {
      out += "    inputs:\n";
      for (const auto& [port, in] : s.inputs) out += fmt::format("      {}: {}.{}\n", port, in.step, in.output);
    }
  }
  return out;
}

}  // namespace facet
