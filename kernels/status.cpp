// Status names and rule texts, generated from the one X-macro list in status.hpp.
#include "kernels/status.hpp"

namespace strideguard {

std::string_view to_string(Status s) {
  switch (s) {
#define SG_STATUS_NAME(name, text) \
  case Status::name: return std::string_view(#name).substr(1);
    SG_STATUS_LIST(SG_STATUS_NAME)
#undef SG_STATUS_NAME
  }
  return "?";
}

std::string_view describe(Status s) {
  switch (s) {
#define SG_STATUS_TEXT(name, text) \
  case Status::name: return text;
    SG_STATUS_LIST(SG_STATUS_TEXT)
#undef SG_STATUS_TEXT
  }
  return "?";
}

}  // namespace strideguard
