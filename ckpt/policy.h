// Copy policies: which pages a checkpoint copies during the pause; every
// other page it leaves write-protected for copy-on-write.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace hsls::ckpt {

enum class Policy {
  stop_and_copy,  // copy every page the epoch wrote
  precopy,        // like stop-and-copy, but hot pages are copied ahead of the pause
  cow,            // copy nothing during the pause
  hybrid,         // copy hot pages (by dirty history) during the pause
};

const char* policy_name(Policy p);
std::optional<Policy> policy_from_name(std::string_view name);
inline constexpr const char* kPolicyNames = "stop-and-copy, precopy, cow, hybrid";

// Tunables of the policies.
struct PolicyTuning {
  unsigned history = 8;       // epochs of dirty history kept per page (1-8)
  unsigned hot_threshold = 2; // dirty in at least this many of them = hot
  unsigned neighbours = 0;    // on a copy-on-write fault, also copy this many following pages
  unsigned hot_lease = 16;    // epochs a written hot page stays out of KVM's dirty tracking (0 = never)
};

}  // namespace hsls::ckpt
