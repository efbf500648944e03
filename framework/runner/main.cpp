// runner: loads facet plugins and runs YAML pipelines.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/program_options.hpp>

#include "describe.hpp"
#include "executor.hpp"
#include "facet/artifact_file.hpp"
#include "facet/files.hpp"
#include "facet/heap.hpp"
#include "generate.hpp"
#include "launcher.hpp"
#include "pipeline.hpp"
#include "plugin_registry.hpp"
#include "report.hpp"
#include "sweep.hpp"
#include "text_util.hpp"

namespace po = boost::program_options;
using namespace facet;

namespace {

/// OpenMP's idle threads spin while they wait for work (libgomp's default:
/// 300,000 turns before sleeping). When another process competes for the
/// cores, a spinning thread holds the core its partner needs: beside one busy
/// process on 2 cores, training ran 2.8 times slower on an Ice Lake Xeon and
/// up to 8 times on an AMD EPYC. Waiting passively (sleeping at once) keeps
/// that to 1.2-1.9 times but costs a quarter of the speed alone on the EPYC,
/// where the threads wake between every two small operations. A short spin,
/// 1,000 turns, catches most of those gaps: alone 1.2-1.6 times faster than passive
/// waiting, beside a busy process 1.8-2.1 times slower than alone (AMD EPYC, Zen 5;
/// bench/load_slowdown.sh). OpenMP reads the setting when LibTorch loads,
/// before main, so the runner sets GOMP_SPINCOUNT=1000 and starts itself
/// again, unless the user chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT set).
void spin_briefly(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  ::setenv("GOMP_SPINCOUNT", "1000", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then run on as started
}

constexpr const char* kUsage = R"(usage:
  runner PIPELINE.yaml [options]     run a pipeline (same as: runner run PIPELINE.yaml);
                                     --nproc-per-node N runs it on N processes
  runner sweep SWEEP.yaml [options]  run a pipeline once per combination of values (experiments/)
  runner generate --from RUN_FOLDER --attributes "Male, Smiling" [--count N] --out FACES.png
                                     faces for attributes from the generator of a finished run
  runner report RUN_FOLDER...        a run's report.html again; several runs: one page comparing them
                                     (--out, default comparison.html)
  runner plugins                     list every step the plugins provide
  runner describe STEP [--markdown]  a step's parameters, inputs and outputs
)";

void report_plugin_problems(const PluginRegistry& registry) {
  for (const auto& problem : registry.problems()) {
    std::cerr << (problem.is_error ? "error: " : "warning: ") << problem.message << '\n';
  }
}

bool has_plugin_errors(const PluginRegistry& registry) {
  for (const auto& problem : registry.problems()) {
    if (problem.is_error) return true;
  }
  return false;
}

int report_command(const std::vector<std::string>& args, const po::variables_map& vm) {
  if (args.empty()) throw Error("report takes one or more run folders: runner report RUN_FOLDER...");
  std::vector<RunView> runs;
  for (const auto& dir : args) runs.push_back(read_run(dir));
  if (runs.size() == 1) {
    const auto out = runs[0].dir / "report.html";
    write_file(out, run_report_html(runs[0]));
    std::cout << "wrote " << out.string() << '\n';
    return kExitOk;
  }
  const std::string out = vm.count("out") != 0 ? vm["out"].as<std::string>() : "comparison.html";
  write_file(out, comparison_html(runs, {}, fmt::format("{} runs compared", runs.size())));
  std::cout << "wrote " << out << '\n';
  return kExitOk;
}

LaunchOptions launch_options(const po::variables_map& vm) {
  LaunchOptions o;
  o.nproc_per_node = vm["nproc-per-node"].as<int>();
  o.nnodes = vm["nnodes"].as<int>();
  o.node_rank = vm["node-rank"].as<int>();
  o.master_addr = vm["master-addr"].as<std::string>();
  o.master_port = vm["master-port"].as<int>();
  return o;
}

/// Runs a validated pipeline in this process: alone, or as one rank of several.
int run_pipeline(const Pipeline& pipeline, RunOptions options, RunLog& log) {
  const WorldSpec spec = world_from_environment();
  std::unique_ptr<World> world;
  if (spec.size > 1 && !options.dry_run) {
    log.set_rank(spec.rank);
    try {
      world = World::join(spec, sha256_hex(resolved_yaml(pipeline)), options.cache_dir);
    } catch (const Error& e) {
      log.write(LogLevel::Error, "", e.what());
      return kExitStepFailed;
    }
    options.world = world.get();
    options.local_rank = spec.local_rank;
    options.local_ranks = spec.local_size;
  }
  // Only now: until then Ctrl-C or SIGTERM (the launcher stopping a rank) ends this process at once.
  install_interrupt_handler();
  return execute(pipeline, options, log);
}

int generate_command(const std::vector<std::string>& args, const po::variables_map& vm, const PluginRegistry& registry,
                     RunLog& log, char** argv) {
  if (!args.empty()) throw Error(fmt::format("generate takes options only, not '{}' (see runner --help)", args[0]));
  GenerateOptions options;
  for (const char* required : {"from", "attributes", "out"}) {
    if (vm.count(required) == 0) throw Error(fmt::format("generate needs --{} (see runner --help)", required));
  }
  options.from = vm["from"].as<std::string>();
  options.attributes = vm["attributes"].as<std::string>();
  options.out = vm["out"].as<std::string>();
  options.count = vm["count"].as<int>();
  if (options.count < 1) throw Error(fmt::format("--count {}: ask for at least one face", options.count));
  options.step = vm["step"].as<std::string>();
  options.seed = vm["seed"].as<std::uint64_t>();
  options.cache_dir = vm["cache-dir"].as<std::string>();
  spin_briefly(argv);
  generate(options, registry, log);
  return kExitOk;
}

int run_command(const std::string& command, const std::vector<std::string>& args, const po::variables_map& vm,
                char** argv) {
  PluginRegistry registry;
  registry.load_dirs(plugin_search_path(vm["plugin-path"].as<std::vector<std::string>>()));
  report_plugin_problems(registry);

  if (command == "plugins") {
    std::cout << list_steps(registry);
    return has_plugin_errors(registry) ? kExitStepFailed : kExitOk;
  }
  if (command == "describe") {
    if (args.size() != 1) throw Error("describe takes one step name: runner describe STEP");
    const auto* step = registry.find(args[0]);
    if (step == nullptr) {
      throw Error(fmt::format("unknown step '{}'{} (known steps: {})", args[0], did_you_mean(args[0], registry.names()),
                              fmt::join(registry.names(), ", ")));
    }
    std::cout << (vm.count("markdown") ? describe_step_markdown(*step) : describe_step(*step));
    return has_plugin_errors(registry) ? kExitStepFailed : kExitOk;
  }
  RunLog log(vm.count("verbose") != 0);
  if (command == "report") return report_command(args, vm);
  if (command == "generate") return generate_command(args, vm, registry, log, argv);
  if (args.size() != 1) throw Error(fmt::format("{} takes one file: runner {} FILE.yaml", command, command));
  const auto overrides = vm["set"].as<std::vector<std::string>>();

  RunOptions options;
  options.dry_run = vm.count("dry-run") != 0;
  options.no_cache = vm.count("no-cache") != 0;
  options.until = vm["until"].as<std::string>();
  for (const auto& id : vm["rerun"].as<std::vector<std::string>>()) options.rerun.insert(id);
  options.cache_dir = vm["cache-dir"].as<std::string>();
  options.runs_dir = vm["runs-dir"].as<std::string>();
  const LaunchOptions launch = launch_options(vm);
  const bool launching = launch.nproc_per_node > 1 || launch.nnodes > 1;
  if (command == "sweep") {
    if (launching || world_from_environment().size > 1) {
      throw Error("runner sweep runs in one process; run a variant's pipeline with --nproc-per-node instead");
    }
    const Sweep sweep = load_sweep(args[0]);
    spin_briefly(argv);
    install_interrupt_handler();
    return run_sweep(sweep, overrides, options, registry, log);
  }
  const Pipeline pipeline = load_pipeline(args[0], overrides, registry);  // bad input fails here, once
  if (!options.dry_run) spin_briefly(argv);
  if (launching && std::getenv("RANK") == nullptr && !options.dry_run) return launch_workers(launch, argv);
  return run_pipeline(pipeline, options, log);
}

/// The options runner --help shows.
po::options_description command_line_options() {
  po::options_description visible("options");
  visible.add_options()("help,h", "show this help")(
      "set", po::value<std::vector<std::string>>()->default_value({}, "")->composing(),
      "override a pipeline value: --set steps.ID.with.PARAM=VALUE (repeatable)")(
      "dry-run", "print the plan and which steps are cached; run nothing")(
      "until", po::value<std::string>()->default_value(""), "run only this step and the steps it needs")(
      "rerun", po::value<std::vector<std::string>>()->default_value({}, "")->composing(),
      "recompute this step and every step downstream of it, even when cached (repeatable)")(
      "no-cache", "neither read nor write the cache")(
      "cache-dir", po::value<std::string>()->default_value(".facet-cache"), "where step outputs are cached")(
      "runs-dir", po::value<std::string>()->default_value("runs"), "where run folders are created")(
      "plugin-path", po::value<std::vector<std::string>>()->default_value({}, "")->composing(),
      "a folder of plugins, searched before FACET_PLUGIN_PATH (repeatable)")(
      "markdown", "describe: print Markdown (a plugin README body)")(
      "from", po::value<std::string>(), "generate: the run folder whose generator draws the faces")(
      "attributes", po::value<std::string>(), "generate: the attributes to draw, comma-separated")(
      "count", po::value<int>()->default_value(16), "generate: how many faces")(
      "out", po::value<std::string>(), "generate: the PNG to write; report: the comparison page to write")(
      "step", po::value<std::string>()->default_value(""),
      "generate: the generator step's id, when the run has several")(
      "seed", po::value<std::uint64_t>()->default_value(1), "generate: seed of the faces drawn")("verbose,v",
                                                                                                 "show debug messages");
  po::options_description ranks("several processes (torchrun's conventions; README: Running on several processes)");
  ranks.add_options()("nproc-per-node", po::value<int>()->default_value(1),
                      "processes (ranks) to start on this machine")("nnodes", po::value<int>()->default_value(1),
                                                                    "machines taking part")(
      "node-rank", po::value<int>()->default_value(0), "this machine's place among them (0 hosts the rendezvous)")(
      "master-addr", po::value<std::string>()->default_value(""), "rank 0's machine (as MASTER_ADDR)")(
      "master-port", po::value<int>()->default_value(0),
      "the rendezvous port on it (as MASTER_PORT); 0: a free port, one machine only");
  visible.add(ranks);
  return visible;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  init_hdf5();  // before anything else touches HDF5
  po::options_description visible = command_line_options();
  po::options_description hidden;
  hidden.add_options()("words", po::value<std::vector<std::string>>()->default_value({}, ""), "command and arguments");
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("words", -1);

  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
    auto words = vm["words"].as<std::vector<std::string>>();
    if (vm.count("help") || words.empty()) {
      std::cout << kUsage << '\n' << visible;
      return words.empty() && !vm.count("help") ? kExitBadInput : kExitOk;
    }
    std::string command = words.front();
    if (command == "run" || command == "sweep" || command == "plugins" || command == "describe" ||
        command == "generate" || command == "report") {
      words.erase(words.begin());
    } else {
      command = "run";
    }
    return run_command(command, words, vm, argv);
  } catch (const PipelineError& e) {
    for (const auto& message : e.messages()) std::cerr << message << '\n';
    return kExitBadInput;
  } catch (const po::error& e) {
    std::cerr << "error: " << e.what() << " (see runner --help)\n";
    return kExitBadInput;
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return kExitStepFailed;
  }
}
