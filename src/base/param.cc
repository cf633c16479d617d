#include "src/base/param.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "src/base/log.h"

namespace torc {
namespace {

std::mutex& registryMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::map<std::string, ParamBase*>& registry() {
  static auto* r = new std::map<std::string, ParamBase*>;
  return *r;
}

}  // namespace

ParamBase::ParamBase(const char* name, ParamType type, std::string defaultText, const char* description,
                     const char* choices)
    : name_(name), type_(type), defaultText_(std::move(defaultText)), description_(description), choices_(choices) {
  std::lock_guard<std::mutex> lock(registryMutex());
  registry()[name_] = this;
}

bool ParamBase::readEnv(std::string* text) const {
  const char* v = getenv(name_);
  if (v == nullptr) return false;
  *text = v;
  return true;
}

void ParamBase::warnBadValue(const std::string& text, const char* expected) const {
  logRaw(LogLevel::kWarn, "invalid value '%s' for %s (expected %s); using the default %s", text.c_str(), name_,
         expected, defaultText_.c_str());
}

bool ParamBase::choiceAllowed(const std::string& text) const {
  if (choices_ == nullptr) return true;
  const char* p = choices_;
  while (*p) {
    const char* bar = strchr(p, '|');
    size_t len = bar ? static_cast<size_t>(bar - p) : strlen(p);
    if (text.size() == len && strncasecmp(text.c_str(), p, len) == 0) return true;
    if (!bar) break;
    p = bar + 1;
  }
  return false;
}

bool parseParam(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  long long v = strtoll(text.c_str(), &end, hex ? 16 : 10);  // "010" is ten, not eight
  if (errno != 0) return false;
  // Size suffixes are handy for byte counts: 512K, 4M, 1G.
  int64_t mult = 1;
  if (*end == 'K' || *end == 'k') mult = 1 << 10, ++end;
  else if (*end == 'M' || *end == 'm') mult = 1 << 20, ++end;
  else if (*end == 'G' || *end == 'g') mult = int64_t{1} << 30, ++end;
  if (*end != '\0') return false;
  if (v > INT64_MAX / mult || v < INT64_MIN / mult) return false;
  *out = static_cast<int64_t>(v) * mult;
  return true;
}

bool parseParam(const std::string& text, bool* out) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "1" || t == "true" || t == "yes" || t == "on") return *out = true, true;
  if (t == "0" || t == "false" || t == "no" || t == "off") return *out = false, true;
  return false;
}

bool parseParam(const std::string& text, double* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  double v = strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool parseParam(const std::string& text, std::string* out) {
  *out = text;
  return true;
}

std::string formatParam(int64_t v) { return std::to_string(v); }
std::string formatParam(bool v) { return v ? "1" : "0"; }
std::string formatParam(double v) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}
std::string formatParam(const std::string& v) { return v; }

std::vector<ParamBase*> allParams() {
  std::lock_guard<std::mutex> lock(registryMutex());
  std::vector<ParamBase*> out;
  for (auto& kv : registry()) out.push_back(kv.second);
  return out;
}

ParamBase* findParam(const std::string& name) {
  std::lock_guard<std::mutex> lock(registryMutex());
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : it->second;
}

ScopedParamOverride::ScopedParamOverride(const std::string& name, const std::string& value)
    : param_(findParam(name)) {
  if (param_ == nullptr || !param_->overrideText(value)) {
    fprintf(stderr, "ScopedParamOverride: cannot set %s=%s\n", name.c_str(), value.c_str());
    abort();  // a test bug, not a user error
  }
}

ScopedParamOverride::~ScopedParamOverride() { param_->clearOverride(); }

}  // namespace torc
