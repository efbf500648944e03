#include "facet/plot.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "facet/errors.hpp"

namespace facet {
namespace fs = std::filesystem;

std::string gnuplot_png(const std::string& script, const std::map<std::string, std::string>& data, int width,
                        int height) {
  static std::atomic<int> counter{0};
  const fs::path dir = fs::temp_directory_path() / fmt::format("facet-plot-{}-{}", ::getpid(), counter++);
  fs::create_directories(dir);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{dir};
  for (const auto& [name, contents] : data) std::ofstream(dir / name) << contents;
  std::ofstream(dir / "plot.gp") << fmt::format("set terminal pngcairo size {},{} font ',10'\nset output 'plot.png'\n",
                                                width, height)
                                 << script << '\n';
  const std::string command = fmt::format("cd '{}' && gnuplot plot.gp 2>&1", dir.string());
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw Error("cannot start gnuplot");
  std::string output;
  char buffer[512];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0 || !fs::exists(dir / "plot.png")) {
    if (output.find("not found") != std::string::npos && output.find("gnuplot") != std::string::npos) {
      throw Error("gnuplot is not installed; run third_party/install.sh (package gnuplot-nox)");
    }
    throw Error(fmt::format("gnuplot failed: {}", output.substr(0, 500)));
  }
  std::ifstream png(dir / "plot.png", std::ios::binary);
  std::stringstream bytes;
  bytes << png.rdbuf();
  return bytes.str();
}

}  // namespace facet
