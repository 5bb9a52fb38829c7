// Per-checkpoint statistics, kept in a ring buffer and summarised for the
// monitor (`info ckpt`) and the benchmark.
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

namespace hsls::ckpt {

// One checkpoint's pause and its parts (nanoseconds), and what it moved.
struct CheckpointStats {
  uint64_t version = 0;
  uint64_t unix_ns = 0;
  uint64_t pause_ns = 0;    // first vCPU asked to stop .. all released
  uint64_t stop_ns = 0;     // .. every vCPU out of KVM_RUN (and its state saved)
  uint64_t save_ns = 0;     // VM and device state saved and persisted
  uint64_t dirty_ns = 0;    // dirty log fetched and cleared, hotness updated
  uint64_t copy_ns = 0;     // pages copied to backups and tagged (write-protects run meanwhile on
                            // parked vCPUs; with the pause copier, the leader's protects are in here)
  uint64_t protect_ns = 0;  // then: waiting for the rest of the write-protects, unprotecting kept pages
  uint64_t flush_ns = 0;    // guest's dirty lines flushed (adr only)
  uint64_t commit_ns = 0;   // journal record + commit word persisted
  uint64_t resume_ns = 0;   // released .. every vCPU back on its way to KVM_RUN
  uint64_t pages_dirty = 0;
  uint64_t pages_copied = 0;    // during the pause
  uint64_t pages_retagged = 0;  // kept writable with a new tag alone: the backup held their content (hybrid)
  uint64_t pages_protected = 0; // newly write-protected (left to copy-on-write)
  uint64_t pages_leased = 0;    // hot pages out of KVM's dirty tracking (hot_lease), reported dirty
  uint64_t cow_faults = 0;      // in the epoch before this checkpoint
  uint64_t cow_fault_ns = 0;    // their total handling time
  uint64_t cow_fault_max_ns = 0;
  uint64_t nvm_bytes = 0;       // written to NVM for this checkpoint (and the epoch's copy-on-write)
  static constexpr uint32_t kNoLeader = ~0u;
  uint32_t leader = kNoLeader;  // the vCPU that led the pause (none: taken while the machine was parked)
  uint32_t vcpus_held = 0;      // other vCPUs held where they slept (not kicked: no thread woken for them)
};

class StatsRing {
 public:
  static constexpr size_t kDefaultCapacity = 4096;
  explicit StatsRing(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}
  void add(const CheckpointStats& s);
  std::vector<CheckpointStats> last(size_t n) const;
  uint64_t total() const;
  // Medians, 99th percentiles, maxima and means over the last `n` checkpoints.
  nlohmann::json summary(size_t n) const;
  // The same over every checkpoint after `version` the ring still holds;
  // "complete" says whether it holds them all, "kept" how many it can. A
  // benchmark asks once at the end of its window instead of polling during it.
  nlohmann::json summary_since(uint64_t version) const;
  static nlohmann::json to_json(const CheckpointStats& s);

 private:
  static nlohmann::json summarize(const std::vector<CheckpointStats>& all);

  mutable std::mutex mu_;
  std::vector<CheckpointStats> ring_;
  size_t next_ = 0;
  size_t capacity_;
  uint64_t total_ = 0;
};

}  // namespace hsls::ckpt
