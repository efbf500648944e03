#include "launcher.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "executor.hpp"
#include "facet/errors.hpp"

namespace facet {

namespace {

constexpr auto kGracePeriod = std::chrono::seconds(10);  // between SIGTERM and SIGKILL for the other ranks

std::atomic<int> interrupts{0};
extern "C" void on_launcher_signal(int) { interrupts.fetch_add(1); }

/// A TCP port nobody listens on now (the workers' rendezvous).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    throw Error("cannot find a free port for the rendezvous; give one with --master-port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  bool running = true;
};

pid_t start_worker(int rank, int local_rank, int world, const LaunchOptions& o, const std::string& port, char** argv) {
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(fmt::format("cannot start rank {}: {}", rank, std::strerror(errno)));
  if (pid > 0) return pid;
  ::setpgid(0, 0);  // Ctrl-C reaches the launcher only, which passes it on once
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(local_rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc_per_node).c_str(), 1);
  ::setenv("GROUP_RANK", std::to_string(o.node_rank).c_str(), 1);
  ::setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
  ::setenv("MASTER_PORT", port.c_str(), 1);
  ::execv("/proc/self/exe", argv);
  std::cerr << fmt::format("error: rank {}: cannot start {}: {}\n", rank, argv[0], std::strerror(errno));
  std::_Exit(kExitStepFailed);
}

std::string cause(int status) {
  if (WIFSIGNALED(status)) {
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
  }
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

void signal_all(std::vector<Worker>& workers, int signal) {
  for (auto& w : workers) {
    if (w.running) ::kill(w.pid, signal);
  }
}

}  // namespace

int launch_workers(const LaunchOptions& o_in, char** argv) {
  LaunchOptions o = o_in;
  if (o.nproc_per_node < 1) throw Error("--nproc-per-node must be at least 1");
  if (o.nnodes < 1 || o.node_rank < 0 || o.node_rank >= o.nnodes) {
    throw Error(fmt::format("--node-rank {} must be below --nnodes {}", o.node_rank, o.nnodes));
  }
  if (o.nnodes > 1 && (o.master_addr.empty() || o.master_port == 0)) {
    throw Error("several machines (--nnodes) need --master-addr and --master-port: rank 0's machine and a free port");
  }
  if (o.master_addr.empty()) o.master_addr = "127.0.0.1";
  const std::string port = std::to_string(o.master_port != 0 ? o.master_port : free_port());
  const int world = o.nnodes * o.nproc_per_node;

  struct sigaction action {};
  action.sa_handler = on_launcher_signal;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  std::vector<Worker> workers;
  for (int local = 0; local < o.nproc_per_node; ++local) {
    const int rank = o.node_rank * o.nproc_per_node + local;
    workers.push_back({rank, start_worker(rank, local, world, o, port, argv)});
  }
  int code = kExitOk;
  bool stopping = false;
  auto stop_started = std::chrono::steady_clock::now();
  int forwarded = 0;
  for (size_t left = workers.size(); left > 0;) {
    if (interrupts.load() > forwarded) {  // Ctrl-C: passed on; a second one ends the workers at once
      forwarded = interrupts.load();
      signal_all(workers, forwarded == 1 ? SIGINT : SIGKILL);
    }
    if (stopping && std::chrono::steady_clock::now() - stop_started > kGracePeriod) signal_all(workers, SIGKILL);
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    for (auto& w : workers) {
      if (w.pid != pid) continue;
      w.running = false;
      --left;
      const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      if (failed && !stopping) {
        code = WIFEXITED(status) ? WEXITSTATUS(status) : kExitStepFailed;
        if (forwarded == 0) {
          std::cerr << fmt::format("error: rank {} (pid {}) {}; stopping the other ranks\n", w.rank, w.pid,
                                   cause(status));
        }
        stopping = true;
        stop_started = std::chrono::steady_clock::now();
        signal_all(workers, SIGTERM);
      }
    }
  }
  return code;
}

}  // namespace facet
