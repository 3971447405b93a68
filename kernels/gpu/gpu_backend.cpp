// The GPU runner and its worker process. The parent never touches the GPU runtime in worker mode: it forks a
// worker before any device initialisation, ships each Case and its storage bytes over a socket, and reads the
// device's bytes back. A device fault is sticky (the context is dead), so the worker reports it and exits, and
// the next case forks a fresh one; the caller's props or fuzz run continues and shrinks.
#include "kernels/gpu/gpu_backend.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "harness/oracle.hpp"
#include "kernels/cpu_backend.hpp"
#include "kernels/gpu/device_session.hpp"
#include "reference/reference.hpp"

namespace strideguard {
namespace {

using gpu::ByteSpan;
using gpu::DeviceOutcome;
using gpu::DeviceRun;
using gpu::StorageIo;

// ---- byte streams over the worker socket ------------------------------------------------------------------
// Every helper returns false on a broken peer; the caller turns that into a lost worker.

bool write_all(int fd, const void* p, std::size_t n) {
  const auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = send(fd, b, n, MSG_NOSIGNAL);  // no SIGPIPE when the worker died
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Reads exactly n bytes; waits at most timeout_ms for each piece (-1: forever).
bool read_all(int fd, void* p, std::size_t n, int timeout_ms, bool* timed_out = nullptr) {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    if (timeout_ms >= 0) {
      pollfd pfd{fd, POLLIN, 0};
      const int r = poll(&pfd, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        if (timed_out) *timed_out = true;
        return false;
      }
      if (r < 0) return false;
    }
    const ssize_t got = recv(fd, b, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    b += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) {}
  template <class T>
  void pod(const T& v) {
    ok_ = ok_ && write_all(fd_, &v, sizeof v);
  }
  void bytes(const void* p, std::size_t n) {
    pod(static_cast<std::uint64_t>(n));
    ok_ = ok_ && (n == 0 || write_all(fd_, p, n));
  }
  void str(const std::string& s) { bytes(s.data(), s.size()); }
  bool ok() const { return ok_; }

 private:
  int fd_;
  bool ok_ = true;
};

class Reader {
 public:
  Reader(int fd, int timeout_ms) : fd_(fd), timeout_ms_(timeout_ms) {}
  template <class T>
  T pod() {
    T v{};
    ok_ = ok_ && read_all(fd_, &v, sizeof v, timeout_ms_, &timed_out_);
    return v;
  }
  std::string str() {
    const auto n = pod<std::uint64_t>();
    std::string s;
    if (!ok_ || n > (std::uint64_t{1} << 40)) {
      ok_ = false;
      return s;
    }
    s.resize(n);
    ok_ = ok_ && (n == 0 || read_all(fd_, s.data(), n, timeout_ms_, &timed_out_));
    return s;
  }
  bool into(std::vector<std::byte>& out) {
    const auto n = pod<std::uint64_t>();
    if (!ok_ || n != out.size()) return ok_ = false;
    ok_ = n == 0 || read_all(fd_, out.data(), n, timeout_ms_, &timed_out_);
    return ok_;
  }
  bool ok() const { return ok_; }
  bool timed_out() const { return timed_out_; }

 private:
  int fd_;
  int timeout_ms_;
  bool ok_ = true;
  bool timed_out_ = false;
};

void write_request(Writer& w, const Case& c, const std::vector<StorageIo>& io) {
  w.str(print_case(c));
  w.pod(static_cast<std::uint32_t>(io.size()));
  for (const StorageIo& s : io) {
    w.pod(static_cast<std::uint8_t>(s.used));
    w.pod(static_cast<std::uint64_t>(s.bytes));
    w.pod(static_cast<std::uint8_t>(s.placement));
    w.str(s.name);
    w.pod(static_cast<std::uint32_t>(s.spans.size()));
    for (const ByteSpan& sp : s.spans) {
      w.pod(static_cast<std::uint64_t>(sp.lo));
      w.pod(static_cast<std::uint64_t>(sp.hi));
    }
    w.bytes(s.data.data(), s.data.size());
  }
}

bool read_request(Reader& r, Case* c, std::vector<StorageIo>* io, std::string* error) {
  const std::string text = r.str();
  if (!r.ok()) return false;
  ParseResult pr = parse_case(text);
  if (!pr.value) {
    *error = "worker could not parse the case: " + describe(pr.error);
    return false;
  }
  *c = *pr.value;
  const auto n = r.pod<std::uint32_t>();
  io->assign(n, StorageIo{});
  for (StorageIo& s : *io) {
    s.used = r.pod<std::uint8_t>() != 0;
    s.bytes = r.pod<std::uint64_t>();
    s.placement = static_cast<Placement>(r.pod<std::uint8_t>());
    s.name = r.str();
    s.spans.resize(r.pod<std::uint32_t>());
    std::size_t total = 0;
    for (ByteSpan& sp : s.spans) {
      sp.lo = r.pod<std::uint64_t>();
      sp.hi = r.pod<std::uint64_t>();
      total += sp.hi - sp.lo;
    }
    if (!r.ok()) return false;
    s.data.resize(total);
    if (!r.into(s.data)) return false;
  }
  return r.ok();
}

// ---- the worker ---------------------------------------------------------------------------------------------

[[noreturn]] void worker_main(int fd, gpu::Redzone redzone) {
  std::string why;
  std::unique_ptr<gpu::DeviceSession> session = gpu::DeviceSession::open(redzone, &why);
  {
    Writer w(fd);
    w.pod(static_cast<std::uint8_t>(session != nullptr));
    w.str(session ? session->device_name() : why);
    if (!session || !w.ok()) _exit(session ? 1 : 2);
  }
  for (;;) {
    Reader r(fd, -1);
    const auto kind = r.pod<std::uint32_t>();
    if (!r.ok()) _exit(0);  // the parent is gone or closed the socket: done
    if (kind != 1) _exit(1);
    Case c;
    std::vector<StorageIo> io;
    std::string error;
    DeviceRun run;
    if (!read_request(r, &c, &io, &error)) {
      if (!r.ok()) _exit(1);
      run = {DeviceOutcome::kFailed, error};
    } else {
      run = session->run(c, io);
    }
    Writer w(fd);
    w.pod(static_cast<std::uint8_t>(run.outcome));
    w.str(run.message);
    if (run.outcome == DeviceOutcome::kOk) {
      for (const StorageIo& s : io) w.bytes(s.data.data(), s.data.size());
    }
    // A lost context cannot run another case: leave, and let the parent fork a fresh worker. _exit, not exit:
    // the forked image holds the parent's atexit handlers and buffered streams, which are not ours to flush.
    if (!w.ok() || run.outcome == DeviceOutcome::kContextLost) _exit(run.outcome == DeviceOutcome::kContextLost ? 3 : 1);
  }
}

class Worker {
 public:
  ~Worker() { stop(); }

  bool start(gpu::Redzone redzone, int timeout_s, std::string* why_not) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      *why_not = std::string("socketpair: ") + std::strerror(errno);
      return false;
    }
    const pid_t pid = fork();
    if (pid < 0) {
      *why_not = std::string("fork: ") + std::strerror(errno);
      close(sv[0]);
      close(sv[1]);
      return false;
    }
    if (pid == 0) {
      close(sv[0]);
      worker_main(sv[1], redzone);
    }
    close(sv[1]);
    pid_ = pid;
    fd_ = sv[0];
    timeout_ms_ = timeout_s * 1000;
    Reader r(fd_, timeout_ms_);
    const bool ok = r.pod<std::uint8_t>() != 0;
    const std::string text = r.str();
    if (!r.ok() || !ok) {
      *why_not = r.ok() ? text : "the GPU worker died while opening the device" + exit_status();
      stop();
      return false;
    }
    device_ = text;
    return true;
  }

  bool alive() const { return pid_ > 0; }
  const std::string& device() const { return device_; }

  DeviceRun run(const Case& c, std::vector<StorageIo>& io) {
    Writer w(fd_);
    w.pod(std::uint32_t{1});
    write_request(w, c, io);
    Reader r(fd_, timeout_ms_);
    const auto outcome = static_cast<DeviceOutcome>(r.pod<std::uint8_t>());
    std::string message = r.str();
    if (r.ok() && outcome == DeviceOutcome::kOk) {
      for (StorageIo& s : io) r.into(s.data);
    }
    if (!w.ok() || !r.ok()) {
      const std::string why = r.timed_out() ? "the GPU worker answered nothing for " +
                                                  std::to_string(timeout_ms_ / 1000) + " s and was killed"
                                            : "the GPU worker died";
      stop();
      return {DeviceOutcome::kContextLost, why + last_status_};
    }
    if (outcome == DeviceOutcome::kContextLost) stop();  // it exits by itself; reap it
    return {outcome, std::move(message)};
  }

  void stop() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    if (pid_ > 0) {
      int status = 0;
      // A worker that lost its context exits on its own; give it a moment, then make sure.
      for (int i = 0; i < 200 && waitpid(pid_, &status, WNOHANG) == 0; ++i) usleep(10000);
      if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
      last_status_ = WIFSIGNALED(status) ? " (killed by signal " + std::to_string(WTERMSIG(status)) + ")"
                                         : " (exit code " + std::to_string(WEXITSTATUS(status)) + ")";
    }
    pid_ = -1;
  }

 private:
  std::string exit_status() {
    stop();
    return last_status_;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  int timeout_ms_ = 120000;
  std::string device_;
  std::string last_status_;
};

// ---- the backend ----------------------------------------------------------------------------------------------

struct GpuState {
  GpuBackendOptions options;
  std::unique_ptr<Worker> worker;                  // worker mode
  std::unique_ptr<gpu::DeviceSession> session;     // in-process mode
  std::string lost;                                // in-process: why the context is gone
  std::string device;
  GpuBackendStats stats;
};

GpuState& backend() {
  static GpuState b;
  return b;
}

bool start_worker(GpuState& b, std::string* why_not) {
  b.worker = std::make_unique<Worker>();
  ++b.stats.worker_starts;
  if (!b.worker->start(b.options.redzone, b.options.timeout_s, why_not)) {
    b.worker.reset();
    return false;
  }
  b.device = b.worker->device();
  return true;
}

// Host pages (as the host arena sees them) that hold meaningful bytes of a sparse storage: those of every view
// element, and the buffer's first and last page (HostArena::acquire writes canaries there).
std::vector<ByteSpan> sparse_spans(const NormCall& call, const Case& c, int storage, const std::byte* host,
                                   std::size_t bytes) {
  const std::size_t page = HostArena::page_size();
  const auto h = reinterpret_cast<std::uintptr_t>(host);
  std::vector<std::uintptr_t> pages;
  auto add = [&](std::size_t lo, std::size_t hi) {  // bytes [lo, hi) of the storage
    for (std::uintptr_t p = (h + lo) / page; p <= (h + hi - 1) / page; ++p) pages.push_back(p);
  };
  if (bytes > 0) {
    add(0, 1);
    add(bytes - 1, bytes);
  }
  const std::int64_t n = *numel(call[OperandId::kX].layout);
  for (OperandId id : kAllOperands) {
    if (!c[id].present || c[id].storage != storage) continue;
    const TensorArg& t = call[id];
    const std::int64_t cnt = id == OperandId::kWeight ? t.layout.shape[0] : n;
    const auto es = static_cast<std::size_t>(dtype_size(t.dtype));
    for (std::int64_t i = 0; i < cnt; ++i) {
      const auto e = static_cast<std::size_t>(reference::element_index(t, i));
      add(e * es, e * es + es);
    }
  }
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  std::vector<ByteSpan> spans;
  for (std::uintptr_t p : pages) {
    const std::size_t lo = std::max(p * page, h) - h;
    const std::size_t hi = std::min((p + 1) * page, h + bytes) - h;
    if (!spans.empty() && spans.back().hi == lo) {
      spans.back().hi = hi;
    } else {
      spans.push_back({lo, hi});
    }
  }
  return spans;
}

// Where known: the operand a faulting plan overran, from the CPU backend's checked emulation of the same plan
// (it stops at the first access outside a storage, before making it), and that storage's placement.
std::string locate_fault(const NormCall& host_call, const Case& c) {
  const PlanResult pr = plan(host_call, c.policy);
  if (!pr.ok()) return "";
  const auto sizes = storage_sizes(host_call);
  const CpuRunResult cpu = run_cpu(pr.plan, sizes);
  if (!cpu.violation) return "; the CPU emulation of this plan makes no out-of-bounds or misaligned access";
  const OperandSpec& o = c[cpu.violation.operand];
  return "; first bad access of this plan (CPU emulation): " + describe(cpu.violation, sizes) + "; " +
         std::string(to_string(cpu.violation.operand)) + " lives in storage " + std::to_string(o.storage) +
         ", placed " + std::string(to_string(c.storages[static_cast<std::size_t>(o.storage)].placement));
}

}  // namespace

bool gpu_options_from_env(GpuBackendOptions* o, std::string* why_not) {
  const char* mode = std::getenv("SG_GPU_MODE");
  const std::string m = mode ? mode : "isolated";
  if (m == "isolated") {
    o->isolation = GpuIsolation::kWorker;
    o->redzone = gpu::Redzone::kGuard;
  } else if (m == "poison") {
    o->isolation = GpuIsolation::kInProcess;
    o->redzone = gpu::Redzone::kPoison;
  } else if (m == "inprocess") {
    o->isolation = GpuIsolation::kInProcess;
    o->redzone = gpu::Redzone::kGuard;
  } else {
    *why_not = "SG_GPU_MODE=" + m + ": expected isolated, poison or inprocess";
    return false;
  }
  return true;
}

bool register_gpu_backend(std::string* why_not) {
  GpuBackendOptions o;
  if (!gpu_options_from_env(&o, why_not)) return false;
  return register_gpu_backend(o, why_not);
}

bool register_gpu_backend(const GpuBackendOptions& options, std::string* why_not) {
  GpuState& b = backend();
  b.worker.reset();
  b.session.reset();
  b.lost.clear();
  b.options = options;
  if (options.isolation == GpuIsolation::kWorker) {
    if (!start_worker(b, why_not)) return false;
  } else {
    b.session = gpu::DeviceSession::open(options.redzone, why_not);
    if (!b.session) return false;
    b.device = b.session->device_name();
  }
  set_gpu_runner(run_on_gpu);
  return true;
}

std::string run_on_gpu(const NormCall& host_call, const Case& c) {
  GpuState& b = backend();
  ++b.stats.cases;
  // Storages as bind_case laid them out: byte 0 at the data pointer of any operand that lives there.
  std::vector<StorageIo> io(c.storages.size());
  std::vector<std::byte*> host(c.storages.size(), nullptr);
  std::vector<int> elem_size(c.storages.size(), 1);
  std::vector<std::string> users(c.storages.size());
  for (OperandId id : kAllOperands) {
    if (!c[id].present) continue;
    const auto s = static_cast<std::size_t>(c[id].storage);
    host[s] = static_cast<std::byte*>(host_call[id].data);
    elem_size[s] = std::max(elem_size[s], dtype_size(c[id].dtype));
    users[s] += (users[s].empty() ? "" : ", ") + std::string(to_string(id));
  }
  for (std::size_t s = 0; s < io.size(); ++s) {
    StorageIo& st = io[s];
    if (host[s] == nullptr) continue;
    st.used = true;
    st.bytes = static_cast<std::size_t>(c.storages[s].elems) * static_cast<std::size_t>(elem_size[s]);
    st.placement = c.storages[s].placement;
    st.name = "storage " + std::to_string(s) + " (" + users[s] + ")";
    if (st.bytes <= HostArena::kSparseThreshold) {
      st.spans = {{0, st.bytes}};
    } else {
      st.spans = sparse_spans(host_call, c, static_cast<int>(s), host[s], st.bytes);
    }
    std::size_t total = 0;
    for (const ByteSpan& sp : st.spans) total += sp.hi - sp.lo;
    st.data.resize(total);
    std::size_t at = 0;
    for (const ByteSpan& sp : st.spans) {
      std::memcpy(st.data.data() + at, host[s] + sp.lo, sp.hi - sp.lo);
      at += sp.hi - sp.lo;
    }
  }

  DeviceRun run;
  if (b.options.isolation == GpuIsolation::kWorker) {
    std::string why;
    if (!b.worker && !start_worker(b, &why)) {
      run = {DeviceOutcome::kContextLost, "could not restart the GPU worker: " + why};
    } else {
      run = b.worker->run(c, io);
      if (!b.worker->alive()) b.worker.reset();  // the next case forks a fresh one
    }
  } else if (!b.lost.empty()) {
    run = {DeviceOutcome::kContextLost, "the device context was lost by an earlier case in this process (" + b.lost +
                                            "); run with SG_GPU_MODE=isolated to keep going after faults"};
  } else if (!b.session) {
    run = {DeviceOutcome::kContextLost, "the GPU backend is not registered"};
  } else {
    run = b.session->run(c, io);
    if (run.outcome == DeviceOutcome::kContextLost) b.lost = run.message;
  }

  if (run.outcome == DeviceOutcome::kOk) {
    for (std::size_t s = 0; s < io.size(); ++s) {
      std::size_t at = 0;
      for (const ByteSpan& sp : io[s].spans) {
        std::memcpy(host[s] + sp.lo, io[s].data.data() + at, sp.hi - sp.lo);
        at += sp.hi - sp.lo;
      }
    }
    return "";
  }
  if (run.outcome == DeviceOutcome::kContextLost) {
    ++b.stats.device_faults;
    return run.message + locate_fault(host_call, c);
  }
  return run.message;
}

std::string gpu_backend_description() {
  const GpuState& b = backend();
  if (b.device.empty()) return "";
  return b.device + ", isolation " + (b.options.isolation == GpuIsolation::kWorker ? "worker" : "in-process");
}

GpuBackendStats gpu_backend_stats() { return backend().stats; }

}  // namespace strideguard
