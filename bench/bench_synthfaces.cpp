// synthfaces throughput: faces/s rendered and stored, beside the time to
// store the same bytes alone (the HDF5 write floor). Medians of --repeat runs.
//   build/bin/bench_synthfaces [--count 20000] [--size 64] [--threads 2] [--repeat 3]
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "executor.hpp"
#include "facet/artifact_file.hpp"
#include "pipeline.hpp"
#include "plugin_registry.hpp"

using namespace facet;
namespace fs = std::filesystem;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

int main(int argc, char** argv) {
  std::int64_t count = 20000, size = 64, threads = 2, repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::int64_t value = std::stoll(argv[i + 1]);
    if (flag == "--count") count = value;
    else if (flag == "--size") size = value;
    else if (flag == "--threads") threads = value;
    else if (flag == "--repeat") repeat = value;
  }
  torch::set_num_threads(static_cast<int>(threads));
  PluginRegistry registry;
  registry.load_dirs({FACET_PLUGIN_DIR});
  StepConfig config;
  config.id = "faces";
  config.step = registry.find("synthfaces");
  config.params = parse_step_params(*config.step, fmt::format("{{count: {}, size: {}}}", count, size));
  const fs::path dir = fs::temp_directory_path() / "facet-bench-synthfaces";
  fs::create_directories(dir);
  RunLog log;

  std::vector<double> render, store;
  for (std::int64_t r = 0; r < repeat; ++r) {
    auto t = std::chrono::steady_clock::now();
    StepRun run{config, static_cast<std::uint64_t>(r + 1), "bench", torch::kCPU, static_cast<int>(threads), dir};
    run_step(run, {}, dir / "faces.h5", log);
    render.push_back(seconds_since(t));

    // Reference: the same image bytes written the same way, nothing rendered.
    t = std::chrono::steady_clock::now();
    {
      ArtifactFileWriter writer(dir / "floor.h5");
      auto rows = writer.create_rows("images", "images", {count, 3, size, size}, torch::kUInt8);
      auto chunk = torch::randint(0, 255, {512, 3, size, size}, torch::kUInt8);
      for (std::int64_t b = 0; b < count; b += 512)
        rows->append(chunk.slice(0, 0, std::min<std::int64_t>(512, count - b)));
      Artifact a;
      a.set("images", rows->finish());
      writer.write("images", a);
      writer.commit();
    }
    store.push_back(seconds_since(t));
  }
  fs::remove_all(dir);
  const double faces_per_s = static_cast<double>(count) / median(render);
  std::cout << fmt::format("synthfaces {} faces at {} px, {} threads, median of {}\n", count, size, threads, repeat)
            << fmt::format("  render + store : {:7.3f} s  {:8.0f} faces/s\n", median(render), faces_per_s)
            << fmt::format("  store only     : {:7.3f} s  {:8.0f} faces/s (reference: HDF5 write floor)\n",
                           median(store), static_cast<double>(count) / median(store))
            << fmt::format("  ratio render+store / store only: {:.2f}\n", median(render) / median(store));
  return 0;
}
