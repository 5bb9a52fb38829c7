#include "ckpt/policy.h"

namespace hsls::ckpt {

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::stop_and_copy: return "stop-and-copy";
    case Policy::precopy: return "precopy";
    case Policy::cow: return "cow";
    case Policy::hybrid: return "hybrid";
  }
  return "?";
}

std::optional<Policy> policy_from_name(std::string_view name) {
  for (Policy p : {Policy::stop_and_copy, Policy::precopy, Policy::cow, Policy::hybrid})
    if (name == policy_name(p)) return p;
  return std::nullopt;
}

}  // namespace hsls::ckpt
