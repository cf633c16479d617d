// The typed registry of every TORC_* environment variable. Each parameter is declared once, in
// the .cc that owns it:
//
//   TORC_PARAM(ChunkBytes, int64_t, "CHUNK_BYTES", 512 << 10, "bytes per pipelined chunk");
//
// which defines `int64_t torcParamChunkBytes()` (parsed once, cached, thread-safe) and registers
// the variable so `torc_info` can list it. Parsing is strict: a value that does not parse as the
// type (or is not one of the allowed choices) gives a warning and the default is kept.
// Tests change values with ScopedParamOverride, never with setenv after the first read.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace torc {

enum class ParamType { kInt, kBool, kDouble, kString };

class ParamBase {
 public:
  ParamBase(const char* name, ParamType type, std::string defaultText, const char* description,
            const char* choices);
  virtual ~ParamBase() = default;
  const char* name() const { return name_; }
  ParamType type() const { return type_; }
  const std::string& defaultText() const { return defaultText_; }
  const char* description() const { return description_; }
  const char* choices() const { return choices_; }  // "a|b|c" or nullptr
  virtual std::string currentText() = 0;
  // Sets the value from text as if it came from the environment; false if it does not parse.
  virtual bool overrideText(const std::string& text) = 0;
  virtual void clearOverride() = 0;

 protected:
  // Reads the environment; returns true and sets *text if the variable is set.
  bool readEnv(std::string* text) const;
  void warnBadValue(const std::string& text, const char* expected) const;
  bool choiceAllowed(const std::string& text) const;

 private:
  const char* name_;
  ParamType type_;
  std::string defaultText_;
  const char* description_;
  const char* choices_;
};

// Parses text strictly as T; false when it does not.
bool parseParam(const std::string& text, int64_t* out);
bool parseParam(const std::string& text, bool* out);
bool parseParam(const std::string& text, double* out);
bool parseParam(const std::string& text, std::string* out);
std::string formatParam(int64_t v);
std::string formatParam(bool v);
std::string formatParam(double v);
std::string formatParam(const std::string& v);

template <typename T> constexpr ParamType paramTypeOf();
template <> constexpr ParamType paramTypeOf<int64_t>() { return ParamType::kInt; }
template <> constexpr ParamType paramTypeOf<bool>() { return ParamType::kBool; }
template <> constexpr ParamType paramTypeOf<double>() { return ParamType::kDouble; }
template <> constexpr ParamType paramTypeOf<std::string>() { return ParamType::kString; }

template <typename T>
class Param : public ParamBase {
 public:
  Param(const char* name, T def, const char* description, const char* choices = nullptr)
      : ParamBase(name, paramTypeOf<T>(), formatParam(def), description, choices), default_(def) {}

  T get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!loaded_) load();
    return value_;
  }
  std::string currentText() override { return formatParam(get()); }
  bool overrideText(const std::string& text) override {
    T v;
    if (!parseParam(text, &v) || !choiceAllowed(text)) return false;
    std::lock_guard<std::mutex> lock(mu_);
    value_ = v;
    loaded_ = true;
    return true;
  }
  void clearOverride() override {
    std::lock_guard<std::mutex> lock(mu_);
    loaded_ = false;
  }

 private:
  void load() {
    value_ = default_;
    std::string text;
    if (readEnv(&text)) {
      T v;
      if (parseParam(text, &v) && choiceAllowed(text)) {
        value_ = v;
      } else {
        warnBadValue(text, choices() ? choices() : typeName());
      }
    }
    loaded_ = true;
  }
  static const char* typeName() {
    switch (paramTypeOf<T>()) {
      case ParamType::kInt: return "an integer";
      case ParamType::kBool: return "0/1/true/false";
      case ParamType::kDouble: return "a number";
      case ParamType::kString: return "a string";
    }
    return "?";
  }

  std::mutex mu_;
  bool loaded_ = false;
  T default_;
  T value_{};
};

// Every registered parameter, sorted by name.
std::vector<ParamBase*> allParams();
ParamBase* findParam(const std::string& name);  // "TORC_TIMEOUT"; nullptr if unknown

// Sets a parameter for the lifetime of this object (tests).
class ScopedParamOverride {
 public:
  ScopedParamOverride(const std::string& name, const std::string& value);
  ~ScopedParamOverride();
  ScopedParamOverride(const ScopedParamOverride&) = delete;
  ScopedParamOverride& operator=(const ScopedParamOverride&) = delete;

 private:
  ParamBase* param_;
};

}  // namespace torc

#define TORC_PARAM_IMPL(Name, Type, envSuffix, def, desc, choices)                          \
  ::torc::Param<Type>& torcParam##Name##Object() {                                          \
    static ::torc::Param<Type>* p = new ::torc::Param<Type>("TORC_" envSuffix, def, desc, choices); \
    return *p;                                                                              \
  }                                                                                         \
  Type torcParam##Name() { return torcParam##Name##Object().get(); }                        \
  [[maybe_unused]] static ::torc::Param<Type>& torcParam##Name##Registered_ = torcParam##Name##Object()

#define TORC_PARAM(Name, Type, envSuffix, def, desc) TORC_PARAM_IMPL(Name, Type, envSuffix, def, desc, nullptr)
// A string parameter limited to the choices "a|b|c".
#define TORC_PARAM_CHOICE(Name, envSuffix, def, choices, desc) \
  TORC_PARAM_IMPL(Name, std::string, envSuffix, std::string(def), desc, choices)
// Declares in a header a parameter defined in some .cc.
#define TORC_DECLARE_PARAM(Name, Type) Type torcParam##Name()
