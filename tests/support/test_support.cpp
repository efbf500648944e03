#include "test_support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "facet/artifact_file.hpp"
#include "pipeline.hpp"

namespace facet::test {

const PluginRegistry& registry() {
  static const PluginRegistry loaded = [] {
    init_hdf5();
    PluginRegistry r;
    r.load_dirs({FACET_PLUGIN_DIR});
    return r;
  }();
  return loaded;
}

StandInCpu::StandInCpu(bool bf16) {
  const auto file = temp_dir("cpuinfo") / (bf16 ? "bf16" : "plain");
  write_text(file, std::string("processor\t: 0\nmodel name\t: Test CPU ") + (bf16 ? "with" : "without") +
                       " bf16\nflags\t\t: fpu sse2 avx2 avx512f avx512bw" + (bf16 ? " avx512_bf16" : "") +
                       " avx512_vnni\n");
  setenv("FACET_CPUINFO", file.c_str(), 1);
}

StandInCpu::~StandInCpu() { unsetenv("FACET_CPUINFO"); }

fs::path temp_dir(const std::string& name) {
  // ctest runs test cases as parallel processes: the pid keeps their folders apart.
  const fs::path dir = fs::path(FACET_TEST_TMP) / (name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

Artifacts run_step(const std::string& name, const Artifacts& inputs, const std::string& with_yaml, std::uint64_t seed,
                   std::map<std::string, double>* metrics) {
  const RegisteredStep* step = registry().find(name);
  if (step == nullptr) throw Error("test: no step " + name);
  StepConfig config;
  config.id = name;
  config.step = step;
  config.params = parse_step_params(*step, with_yaml);
  static int counter = 0;
  const fs::path dir = temp_dir("steps/" + name + "-" + std::to_string(++counter));
  static RunLog log;
  StepRun run{config, seed, "test", torch::kCPU, 2, dir};
  return facet::run_step(run, inputs, dir / "outputs.h5", log, metrics);
}

CommandResult run_command(const std::string& command, const fs::path& cwd) {
  // A subshell, so that every line of a multi-line command runs in `cwd`.
  const std::string full = "cd '" + cwd.string() + "' && (" + command + "\n) 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string runner_command() { return std::string("'") + FACET_RUNNER + "'"; }

CommandResult run_runner(const std::string& args, const fs::path& cwd) {
  return run_command(runner_command() + " " + args, cwd);
}

std::optional<CommandResult> run_in_mount_namespace(const std::string& script, const fs::path& cwd) {
  if (run_command("unshare -rm true", cwd).status != 0) return std::nullopt;
  write_text(cwd / "namespace-script.sh", script);
  return run_command("unshare -rm sh namespace-script.sh", cwd);
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

Artifact without_tensor(const Artifact& artifact, const std::string& name) {
  Artifact out;
  for (const auto& t : artifact.tensor_names()) {
    if (t != name) out.set(t, artifact.get(t));
  }
  for (const auto& [key, value] : artifact.attrs()) out.set_attr(key, value);
  return out;
}

Artifacts generator_inputs(std::int64_t size) {
  const auto faces = run_step("synthfaces", {}, "{count: 96, size: " + std::to_string(size) + ", persons: 8}");
  const auto split = run_step("split", {{"people", faces.at("attributes")}}).at("split");
  return {{"images", faces.at("images")}, {"attributes", faces.at("attributes")}, {"split", split}};
}

fs::path source_path(const std::string& relative) { return fs::path(FACET_SOURCE_DIR) / relative; }

fs::path pubfig_index_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("FACET_PUBFIG_INDEX")) candidates.emplace_back(env);
  candidates.push_back(fs::path(FACET_SOURCE_DIR) / ".." / "shared" / "data" / "pubfig");
  candidates.emplace_back("/work/shared/data/pubfig");
  for (const auto& c : candidates) {
    if (fs::exists(c / "dev_urls.txt")) return c;
  }
  throw std::runtime_error(
      "PubFig's index files (dev_urls.txt) are not beside the project in ../shared/data/pubfig; "
      "set FACET_PUBFIG_INDEX to their folder");
}

BackgroundProcess::BackgroundProcess(const std::string& command) {
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);  // its own group, so the whole tree can be stopped
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  char c = 0;
  while (read(out[0], &c, 1) == 1 && c != '\n') first_line_ += c;
  close(out[0]);
  if (first_line_.empty()) throw std::runtime_error("background command printed nothing: " + command);
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) {
    kill(-pid_, SIGTERM);
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
}

}  // namespace facet::test
