// The per-checkpoint statistics ring: what it keeps, what it counts, and the
// percentiles of its summary.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "ckpt/stats.h"

using hsls::ckpt::CheckpointStats;
using hsls::ckpt::StatsRing;

namespace {

CheckpointStats stat(uint64_t version, uint64_t pause_ns = 0) {
  CheckpointStats s;
  s.version = version;
  s.pause_ns = pause_ns;
  return s;
}

std::vector<uint64_t> versions(const std::vector<CheckpointStats>& v) {
  std::vector<uint64_t> out;
  for (const auto& s : v) out.push_back(s.version);
  return out;
}

std::vector<uint64_t> range(uint64_t from, uint64_t to) {  // [from, to]
  std::vector<uint64_t> out;
  for (uint64_t v = from; v <= to; ++v) out.push_back(v);
  return out;
}

}  // namespace

TEST_CASE("ckpt stats: empty ring") {
  StatsRing r(4);
  CHECK(r.total() == 0);
  CHECK(r.last(10).empty());
  CHECK(r.last(0).empty());
  auto j = r.summary(10);
  CHECK(j["count"] == 0);
  CHECK_FALSE(j.contains("pause_us"));
}

TEST_CASE("ckpt stats: the ring keeps the last N, oldest first; total counts all") {
  StatsRing r(5);
  for (uint64_t v = 1; v <= 3; ++v) r.add(stat(v));
  CHECK(r.total() == 3);
  CHECK(versions(r.last(10)) == range(1, 3));
  CHECK(versions(r.last(2)) == range(2, 3));
  CHECK(r.last(0).empty());

  for (uint64_t v = 4; v <= 5; ++v) r.add(stat(v));
  CHECK(versions(r.last(5)) == range(1, 5));  // exactly full

  for (uint64_t v = 6; v <= 13; ++v) {
    r.add(stat(v));
    CAPTURE(v);
    CHECK(r.total() == v);
    CHECK(versions(r.last(100)) == range(v - 4, v));
    CHECK(versions(r.last(1)) == std::vector<uint64_t>{v});
    CHECK(versions(r.last(3)) == range(v - 2, v));
  }
}

TEST_CASE("ckpt stats: a ring of one keeps the latest") {
  StatsRing r(1);
  for (uint64_t v = 1; v <= 4; ++v) r.add(stat(v));
  CHECK(r.total() == 4);
  CHECK(versions(r.last(5)) == std::vector<uint64_t>{4});
}

TEST_CASE("ckpt stats: summary p50/p99/max on known data") {
  StatsRing r(1000);
  // Pauses 1..101 us in shuffled order; pages_copied 10x the rank.
  std::vector<uint64_t> order = range(1, 101);
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  for (uint64_t k : order) {
    CheckpointStats s = stat(k, k * 1000);
    s.pages_copied = k * 10;
    s.cow_faults = 2;
    s.cow_fault_ns = 3000;
    s.cow_fault_max_ns = k == 50 ? 9000 : 2000;
    r.add(s);
  }
  auto j = r.summary(1000);
  CHECK(j["count"] == 101);
  CHECK(j["pause_us"]["p50"].get<double>() == doctest::Approx(51));
  CHECK(j["pause_us"]["p99"].get<double>() == doctest::Approx(100));
  CHECK(j["pause_us"]["max"].get<double>() == doctest::Approx(101));
  CHECK(j["pages_copied"]["p50"].get<double>() == doctest::Approx(510));
  CHECK(j["pages_copied"]["max"].get<double>() == doctest::Approx(1010));
  CHECK(j["stop_us"]["max"].get<double>() == doctest::Approx(0));
  CHECK(j["cow_fault_avg_us"].get<double>() == doctest::Approx(1.5));
  CHECK(j["cow_fault_max_us"].get<double>() == doctest::Approx(9));

  // Over the last 3 only (insertion order, not value order).
  std::vector<double> tail;
  for (size_t i = order.size() - 3; i < order.size(); ++i) tail.push_back(double(order[i]));
  std::sort(tail.begin(), tail.end());
  auto j3 = r.summary(3);
  CHECK(j3["count"] == 3);
  CHECK(j3["pause_us"]["p50"].get<double>() == doctest::Approx(tail[1]));
  CHECK(j3["pause_us"]["p99"].get<double>() == doctest::Approx(tail[2]));
  CHECK(j3["pause_us"]["max"].get<double>() == doctest::Approx(tail[2]));
}

TEST_CASE("ckpt stats: p99 is dominated by a single outlier only in small samples") {
  StatsRing r(1000);
  for (uint64_t v = 1; v <= 200; ++v) r.add(stat(v, v == 200 ? 1'000'000 : 10'000));
  auto j = r.summary(200);
  CHECK(j["pause_us"]["p50"].get<double>() == doctest::Approx(10));
  CHECK(j["pause_us"]["p99"].get<double>() == doctest::Approx(10));
  CHECK(j["pause_us"]["max"].get<double>() == doctest::Approx(1000));
  auto one = r.summary(1);
  CHECK(one["pause_us"]["p50"].get<double>() == doctest::Approx(1000));
}

TEST_CASE("ckpt stats: to_json reports microseconds and the fault average") {
  CheckpointStats s = stat(12, 2500);
  s.copy_ns = 1'000'000;
  s.cow_faults = 4;
  s.cow_fault_ns = 10'000;
  s.nvm_bytes = 8192;
  auto j = StatsRing::to_json(s);
  CHECK(j["version"] == 12);
  CHECK(j["pause_us"].get<double>() == doctest::Approx(2.5));
  CHECK(j["copy_us"].get<double>() == doctest::Approx(1000));
  CHECK(j["cow_fault_avg_us"].get<double>() == doctest::Approx(2.5));
  CHECK(j["nvm_bytes"] == 8192);
  CHECK(StatsRing::to_json(stat(1))["cow_fault_avg_us"].get<double>() == 0.0);
}

TEST_CASE("ckpt stats: who led each pause and how many vCPUs it held are counted") {
  StatsRing r(8);
  auto led = [](uint64_t v, uint32_t leader, uint32_t held) {
    CheckpointStats s = stat(v);
    s.leader = leader;
    s.vcpus_held = held;
    return s;
  };
  r.add(led(1, 0, 1));
  r.add(led(2, 1, 1));
  r.add(led(3, 1, 0));
  r.add(stat(4));  // taken while the machine was parked: no leader
  auto j = r.summary(8);
  CHECK(j["leaders"]["0"] == 1);
  CHECK(j["leaders"]["1"] == 2);
  CHECK(j["leaders"]["none"] == 1);
  CHECK(j["vcpus_held"]["max"] == 1.0);
  CHECK(StatsRing::to_json(led(5, 1, 1))["leader"] == 1);
  CHECK(StatsRing::to_json(stat(6))["leader"].is_null());
}

TEST_CASE("ckpt stats: the summary since a version covers exactly the checkpoints after it, with means") {
  StatsRing r(8);
  for (uint64_t v = 1; v <= 6; ++v) r.add(stat(v, v * 1000));  // pause v us
  auto j = r.summary_since(3);  // 4, 5, 6
  CHECK(j["count"] == 3);
  CHECK(j["complete"] == true);
  CHECK(j["since_version"] == 3);
  CHECK(j["pause_us"]["p50"].get<double>() == doctest::Approx(5.0));
  CHECK(j["pause_us"]["max"].get<double>() == doctest::Approx(6.0));
  CHECK(j["pause_us"]["mean"].get<double>() == doctest::Approx(5.0));
  // None yet after the newest: an empty, complete window.
  auto none = r.summary_since(6);
  CHECK(none["count"] == 0);
  CHECK(none["complete"] == true);
  // Past the ring's capacity the oldest are gone: counted as incomplete.
  for (uint64_t v = 7; v <= 12; ++v) r.add(stat(v, v * 1000));  // the ring holds 5..12
  auto cut = r.summary_since(2);
  CHECK(cut["count"] == 8);
  CHECK(cut["complete"] == false);
  auto whole = r.summary_since(4);
  CHECK(whole["count"] == 8);
  CHECK(whole["complete"] == true);
  CHECK(whole["pause_us"]["mean"].get<double>() == doctest::Approx(8.5));
}
