#include "vmm/crashtest/explorer.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "ckpt/recovery.h"
#include "nvm/persist.h"
#include "nvm/region.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"
#include "vmm/machine.h"

namespace hsls::crashtest {
namespace {

// splitmix64 over two words: every choice is a function of (seed, segment, state).
uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct Rng {
  uint64_t s;
  uint64_t next() { return s = mix(s, 0x632be59bd9b4e019ull); }
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
};

// The crash points of a checkpoint (and of copy-on-write where the policy has it).
std::vector<nvm::CrashPoint> points_for(const std::string& policy) {
  using P = nvm::CrashPoint;
  std::vector<P> v = {P::stopped, P::state_saved, P::backup_copied, P::backup_tagged,
                      P::protected_pages, P::journal_written, P::committed};
  if (policy == "cow" || policy == "hybrid") {
    v.push_back(P::cow_copied);
    v.push_back(P::cow_tagged);
  }
  return v;
}

constexpr uint64_t kSystematicRounds = 3;  // crash points enumerated at their 1st..3rd arrival

// What one state does, drawn from (segment seed, state number).
struct Plan {
  bool at_point = false;
  nvm::CrashPoint point = nvm::CrashPoint::stopped;
  uint64_t nth = 1;
  uint64_t delta_blocks = 0;       // block failure: this many blocks after the ledger answered
  std::optional<uint64_t> restored_nth;  // also fail inside the recovery, at restored#n
  std::string describe() const {
    std::string s = at_point ? fmt::format("at={}#{}", nvm::crash_point_name(point), nth)
                             : fmt::format("at-block=+{}", delta_blocks);
    if (restored_nth) s += fmt::format(" then restored#{}", *restored_nth);
    return s;
  }
};

// The first states of a segment go through every crash point at its 1st,
// 2nd and 3rd arrival after the guest's checks passed (every point of each
// of the next three checkpoints); the rest are drawn at random.
Plan plan_state(uint64_t segment_seed, uint64_t state, const Combo& c, double interval_ms) {
  Rng r{mix(segment_seed, state + 1)};
  Plan p;
  uint64_t epoch_blocks = uint64_t(interval_ms * 1e6) / accel::kDeterministicNsPerBlock;
  auto points = points_for(c.policy);
  p.at_point = r.below(100) < 60;
  p.point = points[r.below(points.size())];
  p.nth = 1 + r.below(3);
  if (state < kSystematicRounds * points.size()) {  // nth varies fastest: a short segment sees all three
    p.at_point = true;
    p.point = points[state / kSystematicRounds];
    p.nth = 1 + state % kSystematicRounds;
  }
  p.delta_blocks = 1 + r.below(3 * epoch_blocks);
  if (r.below(100) < 15) p.restored_nth = 1 + r.below(16);
  return p;
}

struct Tally {
  uint64_t states = 0, failures = 0, ledger_answers = 0;
  uint64_t kv_acked = 0, kv_reads = 0;  // the network peer's acknowledged SETs and checked read-backs
  uint64_t lines_dropped = 0;  // ADR: unfenced lines put back to their old bytes at failures
  std::map<std::string, uint64_t> kinds;  // how the power failed
  std::vector<std::string> failure_lines;
};

class SegmentRun {
 public:
  SegmentRun(const Options& opt, uint64_t segment, unsigned job)
      : opt_(opt), segment_(segment), combo_(combo(opt.only_combo ? *opt.only_combo : unsigned(segment % kCombos))) {
    cfg_ = opt.base;
    cfg_.deterministic = true;
    cfg_.seed = mix(opt.seed, segment);
    cfg_.det_paced = false;
    cfg_.verify = true;
    cfg_.serial_console = false;
    cfg_.serial_log.clear();
    cfg_.monitor_path.clear();
    cfg_.commit_log.clear();
    cfg_.pin_vcpus = false;
    cfg_.vcpu_cpus.clear();
    cfg_.ckpt_copier = false;
    cfg_.ckpt_enabled = true;
    cfg_.power_restart = false;
    cfg_.power_restart_delay_ms = 0;
    cfg_.stop_at_block.reset();
    cfg_.powerfail_at_block.reset();
    cfg_.ckpt_policy = combo_.policy;
    cfg_.vcpus = combo_.vcpus;
    cfg_.persistence = combo_.adr ? "adr" : "eadr";
    cfg_.nvm_path = fmt::format("/dev/shm/hsls-crashtest-{}-{}.nvm", ::getpid(), job);
    cfg_.unfenced_seed.reset();
    // The network's far end outlives each machine, as a client would.
    if (cfg_.net_peer == "kv") peer_ = std::make_shared<net::KvPeer>(kv_peer_options(cfg_));
    nvm::Region::reuse_mappings(true);  // each recovery maps the file the last machine had mapped
  }
  ~SegmentRun() {
    machine_.reset();
    nvm::Region::reuse_mappings(false);
    ::unlink(cfg_.nvm_path.c_str());
    ::unlink((cfg_.nvm_path + ".digests").c_str());
  }

  // Runs states [0, last] (or until `more()` says stop); false once a state failed.
  template <typename More>
  bool run(Tally& t, std::optional<uint64_t> last, bool verbose, More more) {
    try {
      Config boot = cfg_;
      boot.fresh = true;
      if (combo_.adr) boot.unfenced_seed = mix(cfg_.seed, 0x11e5);
      machine_ = std::make_unique<Machine>(boot, std::nullopt, peer_);
    } catch (const std::exception& e) {
      return fail(t, 0, Plan{}, std::string("boot: ") + e.what());
    }
    bool fresh = true;
    for (uint64_t k = 0; !last || k <= *last; ++k) {
      if (!last && !more()) return true;
      Plan plan = plan_state(cfg_.seed, k, combo_, cfg_.ckpt_interval_ms);
      std::string what = run_state(t, plan, fresh, k);
      fresh = false;
      if (verbose) std::printf("segment %lu (%s) state %lu: %s: %s\n", segment_, combo_.name().c_str(), k,
                               plan.describe().c_str(), what.empty() ? "ok" : what.c_str());
      if (!what.empty()) return fail(t, k, plan, what);
      ++t.states;
      if (last && k == *last) return true;
    }
    return true;
  }

  // What the network peer saw in this segment.
  void count_peer(Tally& t) const {
    if (!peer_) return;
    auto s = peer_->stats();
    t.kv_acked += s.sets_acked;
    t.kv_reads += s.reads_checked;
  }

 private:
  // One state: run until the ledger answers, arm the failure, run into it, recover.
  std::string run_state(Tally& t, const Plan& plan, bool fresh, uint64_t state_index) {
    Machine& m = *machine_;
    std::mutex mu;
    std::string corrupt, stop_detail;
    bool answered = false, kv_verified = !peer_ || peer_->verified(), aimed = false;
    uint64_t answered_at = 0;
    uint64_t epoch_blocks = uint64_t(cfg_.ckpt_interval_ms * 1e6) / accel::kDeterministicNsPerBlock;
    std::deque<std::string> tail;  // the guest's last lines, for a failure's report
    // Once the guest's checks passed (the ledger answered, the network peer
    // read back what it needed), aim the failure, on the thread that saw
    // the last of them, at a fixed block.
    auto aim = [&] {
      if (aimed || !answered || !kv_verified) return;
      aimed = true;
      uint64_t now = m.vm().blocks_executed();
      answered_at = now;
      if (plan.at_point) {
        m.arm_power_fail(plan.point, plan.nth, false);
        m.power_fail_at_block(now + 20 * epoch_blocks, false);  // if the point is never reached
      } else {
        m.power_fail_at_block(now + plan.delta_blocks, false);
      }
    };
    m.serial().on_line([&](const std::string& line) {
      std::lock_guard lock(mu);
      tail.push_back(line);
      if (tail.size() > 6) tail.pop_front();
      if (line.rfind("ledger CORRUPT", 0) == 0 && corrupt.empty()) corrupt = line;
      if (answered || line.rfind("ledger ok", 0) != 0) return;
      answered = true;
      aim();
    });
    if (peer_) peer_->on_verified([&] {
      std::lock_guard lock(mu);
      kv_verified = true;
      aim();
    });
    m.on_event([&](const nlohmann::json& ev) {
      if (ev.value("event", "") != "stopped" && ev.value("event", "") != "powerfail") return;
      std::lock_guard lock(mu);
      if (stop_detail.empty()) stop_detail = ev.value("reason", "");
    });
    uint64_t start = m.vm().blocks_executed();
    auto h0 = std::chrono::steady_clock::now();
    m.stop_at_block(start + 400 * epoch_blocks);  // a guest that never answers
    if (!fresh) m.type_serial("ledger verify\n");
    m.start();
    m.wait();
    bool failed_power = m.power_failed();
    log::get("crashtest")->info("state: started at block {}, ledger answered at {}, stopped at {} after {:.1f} ms: {}", start, answered_at,
                                m.vm().blocks_executed(),
                                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - h0).count(), stop_detail);
    std::string failure;
    {
      std::lock_guard lock(mu);
      std::string said;
      for (auto& l : tail) said += (said.empty() ? "" : " | ") + l;
      std::string lost = peer_ ? peer_->violation() : "";
      if (!corrupt.empty()) {
        failure = "the guest's ledger is corrupt after recovery: " + corrupt;
      } else if (!lost.empty()) {
        failure = "kvd lost acknowledged data: " + lost;
      } else if (!answered || !kv_verified) {
        failure = std::string(!answered ? "the ledger did not answer" : "the network peer's read-back did not complete") + " within " +
                  std::to_string(400 * epoch_blocks) + " blocks (" + stop_detail + "); guest: " + said;
      } else if (!failed_power) {
        failure = "the machine stopped without a power failure: " + stop_detail + "; guest: " + said;
      } else {
        t.ledger_answers++;
        t.kinds[stop_detail.find("crash point") != std::string::npos ? "crash point" : plan.at_point ? "block (point not reached)" : "block"]++;
      }
    }
    t.lines_dropped += m.store().persist().lines_dropped();
    machine_.reset();  // before leaving: its callbacks refer to this frame; `m` is gone from here on
    if (peer_) peer_->on_verified(nullptr);
    if (!failure.empty()) return failure;
    Config again = cfg_;
    again.fresh = false;
    if (combo_.adr) again.unfenced_seed = mix(cfg_.seed, 0x11e5 + state_index);
    std::optional<PendingCrash> crash;
    if (plan.restored_nth) crash = PendingCrash{nvm::CrashPoint::restored, *plan.restored_nth};
    for (int tries = 0; tries < 2; ++tries) {
      try {
        machine_ = std::make_unique<Machine>(again, crash, peer_);
        return "";
      } catch (const nvm::PowerFailure&) {
        t.kinds["during recovery"]++;
        crash.reset();
      } catch (const std::exception& e) {
        return std::string("recovery: ") + e.what();
      }
    }
    return "recovery failed twice";
  }

  bool fail(Tally& t, uint64_t state, const Plan& plan, const std::string& what) {
    ++t.failures;
    std::string line = fmt::format(
        "FAIL segment {} ({}) state {} ({}): {}\n  replay: vmm crashtest --config {} --seed {} --segment {} --replay {}{}{}{}",
        segment_, combo_.name(), state, plan.describe(), what, opt_.config_path, opt_.seed, segment_, state,
        opt_.only_combo ? fmt::format(" --combo {}", *opt_.only_combo) : "",
        opt_.states_per_segment != Options{}.states_per_segment ? fmt::format(" --per-segment {}", opt_.states_per_segment) : "",
        opt_.inject_bug ? " --inject-bug" : "");
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    t.failure_lines.push_back(line);
    return false;
  }

  const Options& opt_;
  uint64_t segment_;
  Combo combo_;
  Config cfg_;
  std::shared_ptr<net::KvPeer> peer_;  // the network's far end (net.peer = "kv"), across the segment's machines
  std::unique_ptr<Machine> machine_;
};

// One worker: segments job, job + jobs, ... until the budget is spent.
Tally work(const Options& opt, unsigned job, unsigned jobs) {
  Tally t;
  auto t0 = std::chrono::steady_clock::now();
  uint64_t budget = opt.max_states ? (opt.max_states + jobs - 1 - job) / jobs : 0;
  auto more = [&] {
    if (budget && t.states >= budget) return false;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return !(opt.max_seconds > 0 && s >= opt.max_seconds);
  };
  for (uint64_t seg = job; more(); seg += jobs) {
    uint64_t before = t.states;
    SegmentRun run(opt, seg, job);
    uint64_t room = budget ? budget - t.states : opt.states_per_segment;
    run.run(t, std::min<uint64_t>(opt.states_per_segment, room) - 1, false, more);
    run.count_peer(t);
    if (t.states == before && t.failures == 0) break;  // nothing explored: do not spin
  }
  return t;
}

}  // namespace

std::string Combo::name() const { return fmt::format("{}, {} vCPU{}, {}", policy, vcpus, vcpus > 1 ? "s" : "", adr ? "adr" : "eadr"); }

Combo combo(unsigned i) {
  static const char* policies[] = {"stop-and-copy", "precopy", "cow", "hybrid"};
  return Combo{policies[i % 4], 1 + (i / 4) % 2, (i / 8) % 2 == 1};
}

int explore(const Options& opt) {
  ckpt::inject_skipped_restore(opt.inject_bug);
  if (!opt.replay_segment) log::set_level("error");  // one line per failure and the summary; the machines' own logs would drown them
  if (opt.replay_segment) {
    Tally t;
    SegmentRun run(opt, *opt.replay_segment, 0);
    bool ok = run.run(t, opt.replay_state.value_or(0), true, [] { return true; });
    run.count_peer(t);
    if (t.kv_acked) std::printf("network peer: %lu SETs acknowledged, %lu read-backs checked\n", t.kv_acked, t.kv_reads);
    return ok ? 0 : 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  Tally total;
  unsigned jobs = std::max(1u, opt.jobs);
  if (jobs == 1) {
    total = work(opt, 0, 1);
  } else {
    // Worker processes, forked before any machine (and its threads) exists; each reports its tally.
    std::vector<std::pair<pid_t, int>> kids;
    const pid_t parent = ::getpid();
    for (unsigned j = 0; j < jobs; ++j) {
      int fds[2];
      if (::pipe(fds) != 0) throw Error("crashtest: pipe failed");
      std::fflush(stdout);
      pid_t pid = ::fork();
      if (pid < 0) throw Error("crashtest: fork failed");
      if (pid == 0) {
        // A worker dies with the explorer: killed (a test's timeout, ^C), it
        // must not leave a worker behind that goes on, or hangs, for ever.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        ::close(fds[0]);
        Tally t = work(opt, j, jobs);
        std::string out =
            fmt::format("{} {} {} {} {} {}\n", t.states, t.failures, t.ledger_answers, t.lines_dropped, t.kv_acked, t.kv_reads);
        for (auto& [k, n] : t.kinds) out += fmt::format("{}\t{}\n", k, n);
        ssize_t ignored = ::write(fds[1], out.data(), out.size());
        (void)ignored;
        std::fflush(stdout);
        ::_exit(0);
      }
      ::close(fds[1]);
      kids.emplace_back(pid, fds[0]);
    }
    for (auto& [pid, fd] : kids) {
      std::string in;
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) in.append(buf, size_t(n));
      ::close(fd);
      int status = 0;
      ::waitpid(pid, &status, 0);
      uint64_t s = 0, f = 0, a = 0, l = 0, ka = 0, kr = 0;
      auto nl = in.find('\n');
      if (nl == std::string::npos || std::sscanf(in.c_str(), "%lu %lu %lu %lu %lu %lu", &s, &f, &a, &l, &ka, &kr) != 6) {
        std::printf("FAIL worker %d ended without a report (status %d)\n", int(pid), status);
        ++total.failures;
        continue;
      }
      total.states += s;
      total.failures += f;
      total.ledger_answers += a;
      total.lines_dropped += l;
      total.kv_acked += ka;
      total.kv_reads += kr;
      for (size_t pos = nl + 1; pos < in.size();) {
        auto end = in.find('\n', pos), tab = in.find('\t', pos);
        if (end == std::string::npos || tab == std::string::npos || tab > end) break;
        total.kinds[in.substr(pos, tab - pos)] += std::stoull(in.substr(tab + 1, end - tab - 1));
        pos = end + 1;
      }
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string kinds;
  for (auto& [k, n] : total.kinds) kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", k, n);
  std::printf("crashtest: %lu states in %.1f s (%.1f states/s, %.0f per hour) with %u job(s), seed %lu: %lu failure(s); "
              "ledger verified after every recovery (%lu answers); power failed: %s; ADR: %lu unfenced lines lost%s\n",
              total.states, secs, total.states / std::max(secs, 1e-9), total.states / std::max(secs, 1e-9) * 3600, jobs, opt.seed,
              total.failures, total.ledger_answers, kinds.c_str(), total.lines_dropped,
              total.kv_acked ? fmt::format("; kvd: {} SETs acknowledged through external synchrony, {} read back and checked after "
                                           "power failures", total.kv_acked, total.kv_reads).c_str() : "");
  return total.failures ? 1 : 0;
}

}  // namespace hsls::crashtest
