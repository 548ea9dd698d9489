// Errors raised by the native code. Each maps to a Python builtin in the bindings.
#pragma once

#include <stdexcept>
#include <string>

namespace trackpipe {

// Raised by every CUDA entry point of a build without CUDA (csrc/no_cuda).
class NoCudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Raised when a CUDA runtime call fails; the message carries file:line and the CUDA error string.
class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_no_cuda(const char* function);

}  // namespace trackpipe
