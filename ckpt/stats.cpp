#include "ckpt/stats.h"

#include <algorithm>

namespace hsls::ckpt {

void StatsRing::add(const CheckpointStats& s) {
  std::lock_guard lock(mu_);
  if (ring_.size() < capacity_) ring_.push_back(s);
  else ring_[next_] = s;
  next_ = (next_ + 1) % capacity_;
  ++total_;
}

uint64_t StatsRing::total() const {
  std::lock_guard lock(mu_);
  return total_;
}

std::vector<CheckpointStats> StatsRing::last(size_t n) const {
  std::lock_guard lock(mu_);
  std::vector<CheckpointStats> out;
  size_t have = ring_.size();
  n = std::min(n, have);
  for (size_t i = 0; i < n; ++i) out.push_back(ring_[(next_ + have - n + i) % have]);
  return out;
}

nlohmann::json StatsRing::to_json(const CheckpointStats& s) {
  return {{"version", s.version},        {"unix_ns", s.unix_ns},
          {"pause_us", s.pause_ns / 1e3}, {"stop_us", s.stop_ns / 1e3},
          {"save_us", s.save_ns / 1e3},   {"dirty_log_us", s.dirty_ns / 1e3},
          {"copy_us", s.copy_ns / 1e3},   {"protect_us", s.protect_ns / 1e3},
          {"flush_us", s.flush_ns / 1e3}, {"commit_us", s.commit_ns / 1e3},
          {"resume_us", s.resume_ns / 1e3}, {"pages_dirty", s.pages_dirty},
          {"pages_copied", s.pages_copied}, {"pages_retagged", s.pages_retagged}, {"pages_protected", s.pages_protected},
          {"pages_leased", s.pages_leased},
          {"cow_faults", s.cow_faults},   {"cow_fault_avg_us", s.cow_faults ? s.cow_fault_ns / 1e3 / double(s.cow_faults) : 0.0},
          {"cow_fault_max_us", s.cow_fault_max_ns / 1e3}, {"nvm_bytes", s.nvm_bytes},
          {"leader", s.leader == CheckpointStats::kNoLeader ? nlohmann::json() : nlohmann::json(s.leader)},
          {"vcpus_held", s.vcpus_held}};
}

nlohmann::json StatsRing::summary(size_t n) const { return summarize(last(n)); }

nlohmann::json StatsRing::summary_since(uint64_t version) const {
  std::vector<CheckpointStats> after;
  for (const auto& s : last(capacity_))
    if (s.version > version) after.push_back(s);
  // Versions are consecutive within a machine: the window is whole if its first one is here.
  bool complete = after.empty() || after.front().version == version + 1;
  nlohmann::json out = summarize(after);
  out["since_version"] = version;
  out["complete"] = complete;
  out["kept"] = capacity_;
  return out;
}

nlohmann::json StatsRing::summarize(const std::vector<CheckpointStats>& all) {
  nlohmann::json out = {{"count", all.size()}};
  if (all.empty()) return out;
  auto field = [&](const char* name, auto get) {
    std::vector<double> v;
    double sum = 0;
    for (const auto& s : all) {
      v.push_back(double(get(s)));
      sum += v.back();
    }
    std::sort(v.begin(), v.end());
    auto pct = [&](double p) { return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))]; };
    out[name] = {{"p50", pct(0.5)}, {"p99", pct(0.99)}, {"max", v.back()}, {"mean", sum / double(v.size())}};
  };
  field("pause_us", [](const CheckpointStats& s) { return s.pause_ns / 1e3; });
  field("stop_us", [](const CheckpointStats& s) { return s.stop_ns / 1e3; });
  field("save_us", [](const CheckpointStats& s) { return s.save_ns / 1e3; });
  field("dirty_log_us", [](const CheckpointStats& s) { return s.dirty_ns / 1e3; });
  field("copy_us", [](const CheckpointStats& s) { return s.copy_ns / 1e3; });
  field("protect_us", [](const CheckpointStats& s) { return s.protect_ns / 1e3; });
  field("flush_us", [](const CheckpointStats& s) { return s.flush_ns / 1e3; });
  field("commit_us", [](const CheckpointStats& s) { return s.commit_ns / 1e3; });
  field("resume_us", [](const CheckpointStats& s) { return s.resume_ns / 1e3; });
  field("pages_dirty", [](const CheckpointStats& s) { return s.pages_dirty; });
  field("pages_copied", [](const CheckpointStats& s) { return s.pages_copied; });
  field("pages_retagged", [](const CheckpointStats& s) { return s.pages_retagged; });
  field("pages_protected", [](const CheckpointStats& s) { return s.pages_protected; });
  field("pages_leased", [](const CheckpointStats& s) { return s.pages_leased; });
  field("cow_faults", [](const CheckpointStats& s) { return s.cow_faults; });
  field("nvm_bytes", [](const CheckpointStats& s) { return s.nvm_bytes; });
  field("vcpus_held", [](const CheckpointStats& s) { return s.vcpus_held; });
  uint64_t faults = 0, fault_ns = 0, fault_max = 0;
  nlohmann::json leaders = nlohmann::json::object();  // checkpoints led, per vCPU ("none": taken parked)
  for (const auto& s : all) {
    faults += s.cow_faults;
    fault_ns += s.cow_fault_ns;
    fault_max = std::max(fault_max, s.cow_fault_max_ns);
    std::string who = s.leader == CheckpointStats::kNoLeader ? "none" : std::to_string(s.leader);
    leaders[who] = leaders.value(who, 0) + 1;
  }
  out["leaders"] = leaders;
  out["cow_fault_avg_us"] = faults ? double(fault_ns) / 1e3 / double(faults) : 0.0;
  out["cow_fault_max_us"] = double(fault_max) / 1e3;
  return out;
}

}  // namespace hsls::ckpt
