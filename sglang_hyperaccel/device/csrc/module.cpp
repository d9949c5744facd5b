// The Python binding `sglang_hyperaccel.device.native._C`: only what generic torch APIs cannot
// reach. Loading it registers the device (allocator, guard, hooks, kernels) by static
// initialisation.
#include "hyperaccel.h"

#include <torch/csrc/utils/pybind.h>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Native runtime of the emulated hyperaccel chip (a PyTorch PrivateUse1 backend).";
  m.def("_configure", &hyperaccel::configure, py::arg("capacities"),
        "Set the number of chips and each one's memory capacity in bytes.");
  m.def("_capacity", [](int index) { return hyperaccel::capacity(static_cast<c10::DeviceIndex>(index)); },
        py::arg("index"), "Memory capacity of chip `index` in bytes.");
  m.def("_device_count", []() { return static_cast<int>(hyperaccel::device_count()); },
        "Number of chips.");
  m.def("_tensor_format", &hyperaccel::tensor_format, py::arg("tensor"),
        "Storage-format tag of a hyperaccel tensor (backend metadata; 0 = plain strided).");
  m.def("_set_tensor_format", &hyperaccel::set_tensor_format, py::arg("tensor"), py::arg("format"),
        "Set the storage-format tag (0 to 255); it survives torch.save/load.");
}
