// The Python module `effi` (pybind11): effi.Model wraps one effi::Model (weights and compiled
// plans, shared) and a pool of effi::Session (activation arenas), so run() may be called from
// several Python threads at once; the GIL is released while the model loads and runs. Public
// headers only: the module links libeffi.so like any other user of the library.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "effi/effi.hpp"
#include "effi/image.hpp"

namespace py = pybind11;

namespace {

// effi::ErrorCode as the `code` attribute of effi.Error.
const char* CodeName(effi::ErrorCode code) {
  switch (code) {
    case effi::ErrorCode::kOk:
      return "ok";
    case effi::ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case effi::ErrorCode::kInvalidModel:
      return "invalid_model";
    case effi::ErrorCode::kUnsupported:
      return "unsupported";
    case effi::ErrorCode::kIo:
      return "io";
    case effi::ErrorCode::kInvalidImage:
      return "invalid_image";
    case effi::ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

// Names and metadata come from the model file, whose strings protobuf does not check for UTF-8,
// so they must not become a UnicodeDecodeError. A name is decoded as os.fsdecode does (bytes that
// are not UTF-8 become lone surrogates) and encoded back the same way, so that even such a name
// can be given to run(); a message, label or repr gets U+FFFD for them (it is only read).
py::str Decode(const std::string& s, const char* errors) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), errors);
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}
py::str Str(const std::string& s) { return Decode(s, "surrogateescape"); }

std::string Encode(const py::handle& name) {
  py::object b = py::reinterpret_steal<py::object>(
      PyUnicode_AsEncodedString(name.ptr(), "utf-8", "surrogateescape"));
  if (!b) throw py::error_already_set();
  return py::bytes(b);
}

[[noreturn]] void InvalidArgument(const std::string& message) {
  throw effi::Error(effi::ErrorCode::kInvalidArgument, message);
}

// The NumPy dtype of each element type effi's tensors have, and back.
struct DtypeEntry {
  effi::ElementType type;
  py::dtype dtype;
};

const std::vector<DtypeEntry>& Dtypes() {
  // Built on first use (under the GIL); leaked, as the dtypes would otherwise be released after
  // the interpreter is gone.
  static const auto* table = new std::vector<DtypeEntry>{
      {effi::ElementType::kFloat32, py::dtype::of<float>()},
      {effi::ElementType::kInt64, py::dtype::of<int64_t>()},
      {effi::ElementType::kInt32, py::dtype::of<int32_t>()},
      {effi::ElementType::kInt8, py::dtype::of<int8_t>()},
      {effi::ElementType::kUInt8, py::dtype::of<uint8_t>()},
      {effi::ElementType::kBool, py::dtype::of<bool>()},
  };
  return *table;
}

py::dtype DtypeOf(effi::ElementType type) {
  for (const DtypeEntry& e : Dtypes())
    if (e.type == type) return e.dtype;
  throw effi::Error(
      effi::ErrorCode::kUnsupported,
      std::string("no NumPy dtype for effi element type ") + effi::ElementTypeName(type));
}

// kUndefined for a dtype effi has no tensors of (float64, float16, a byte-swapped float32, ...).
effi::ElementType TypeOf(const py::dtype& dtype) {
  for (const DtypeEntry& e : Dtypes())
    if (dtype.equal(e.dtype)) return e.type;
  return effi::ElementType::kUndefined;
}

std::string ShapeText(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    s += std::to_string(a.shape(i)) + (a.ndim() == 1 ? "," : i + 1 < a.ndim() ? ", " : "");
  return s + ")";
}

// An RGB image given as an array: uint8 [height, width, 3] (as PIL's np.asarray(img) or OpenCV's
// after cv2.cvtColor(..., cv2.COLOR_BGR2RGB)), copied into an effi::Image.
effi::Image ImageOf(const py::handle& value) {
  const int contiguous = static_cast<int>(py::array::c_style);
  py::array a = py::array::ensure(value, contiguous);
  if (!a) throw py::type_error("classify(): expected a path, bytes or an image array");
  const bool ok = TypeOf(a.dtype()) == effi::ElementType::kUInt8 && a.ndim() == 3 &&
                  a.shape(2) == 3 && a.shape(0) > 0 && a.shape(1) > 0 && a.shape(0) <= INT_MAX &&
                  a.shape(1) <= INT_MAX;
  if (!ok)
    InvalidArgument("classify(): an image array must be uint8 (height, width, 3), RGB; got " +
                    std::string(py::str(a.dtype())) + " " + ShapeText(a));
  effi::Image image;
  image.height = static_cast<int>(a.shape(0));
  image.width = static_cast<int>(a.shape(1));
  const auto* data = static_cast<const uint8_t*>(a.data());
  image.rgb.assign(data, data + a.size());
  return image;
}

py::tuple ShapeTuple(const std::vector<int64_t>& shape) {
  py::tuple t(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t[i] = py::int_(shape[i]);
  return t;
}

// One model input or output: name, dtype (NumPy's name) and shape (-1 for a dynamic axis).
struct PyTensorInfo {
  py::str name;
  std::string dtype;
  py::tuple shape;
};

PyTensorInfo InfoOf(const effi::TensorInfo& i) {
  return {Str(i.name), effi::ElementTypeName(i.type), ShapeTuple(i.shape)};
}

// An output tensor handed to NumPy without a copy: the array's base owns the effi::Tensor.
py::array ToArray(effi::Tensor&& t) {
  py::dtype dtype = DtypeOf(t.type);
  auto* owned = new effi::Tensor(std::move(t));
  py::capsule base(owned, [](void* p) { delete static_cast<effi::Tensor*>(p); });
  std::vector<py::ssize_t> shape(owned->shape.begin(), owned->shape.end());
  return py::array(dtype, shape, {}, owned->bytes.empty() ? nullptr : owned->bytes.data(), base);
}

class PyModel {
 public:
  PyModel(std::shared_ptr<const effi::Model> model, int threads)
      : model_(std::move(model)), threads_(threads) {
    // One session now: a bad thread count fails here, and the first run() finds it ready.
    Release(std::make_unique<effi::Session>(model_, Options()));
  }

  static std::unique_ptr<PyModel> Load(const py::object& path, const std::string& passes,
                                       int64_t memory_limit, int threads) {
    const std::string file = effi_py::FsPath(path);
    const effi::ModelOptions options{passes, memory_limit};
    std::shared_ptr<effi::Model> model;
    {
      py::gil_scoped_release release;
      model = effi::Model::Load(file, options);
    }
    return std::make_unique<PyModel>(std::move(model), threads);
  }

  static std::unique_ptr<PyModel> FromBytes(const py::bytes& data, const std::string& passes,
                                            int64_t memory_limit, int threads) {
    const std::string_view bytes = data;  // the bytes object is kept alive by the caller
    const effi::ModelOptions options{passes, memory_limit};
    std::shared_ptr<effi::Model> model;
    {
      py::gil_scoped_release release;
      model = effi::Model::LoadFromMemory(bytes.data(), bytes.size(), options);
    }
    return std::make_unique<PyModel>(std::move(model), threads);
  }

  py::list Inputs() const { return Infos(model_->inputs()); }
  py::list Outputs() const { return Infos(model_->outputs()); }
  int threads() const { return threads_; }

  py::dict Metadata() const {
    py::dict d;
    for (const auto& [k, v] : model_->metadata()) d[Str(k)] = Str(v);
    return d;
  }

  py::dict Run(const py::object& inputs) {
    // The arrays (or their contiguous copies) stay referenced here until the run is over.
    std::vector<py::array> arrays;
    std::vector<std::pair<std::string, effi::TensorView>> views;
    if (py::isinstance<py::dict>(inputs)) {
      for (const auto& [key, value] : py::reinterpret_borrow<py::dict>(inputs)) {
        if (!py::isinstance<py::str>(key))
          throw py::type_error("run(): input names must be str, got " +
                               std::string(py::str(py::type::of(key).attr("__name__"))));
        AddInput(Encode(key), value, arrays, views);
      }
    } else if (model_->inputs().size() == 1) {
      AddInput(model_->inputs()[0].name, inputs, arrays, views);
    } else {
      throw py::type_error("run(): inputs must be a dict {name: array} (the model has " +
                           std::to_string(model_->inputs().size()) + " inputs)");
    }
    std::vector<effi::Tensor> outputs;
    {
      py::gil_scoped_release release;
      Lease lease(*this);
      outputs = lease.session->Run(views);
    }
    py::dict result;
    for (size_t i = 0; i < outputs.size(); ++i)
      result[Str(model_->outputs()[i].name)] = ToArray(std::move(outputs[i]));
    return result;
  }

  py::list Classify(const py::object& image, int top) {
    // A path (decoded with the GIL released), the bytes of a file, or an RGB array.
    enum class Source { kPath, kBytes, kArray } source = Source::kArray;
    std::string path;
    py::bytes encoded;
    effi::Image decoded;
    if (py::isinstance<py::bytes>(image)) {
      source = Source::kBytes;
      encoded = py::reinterpret_borrow<py::bytes>(image);
    } else if (py::isinstance<py::str>(image) || py::hasattr(image, "__fspath__")) {
      source = Source::kPath;
      path = effi_py::FsPath(image);
    } else {
      decoded = ImageOf(image);
    }
    std::vector<effi::Prediction> predictions;
    {
      const std::string_view data = encoded;  // the bytes object outlives the call
      py::gil_scoped_release release;
      if (source == Source::kPath) decoded = effi::DecodeImage(path);
      if (source == Source::kBytes) decoded = effi::DecodeImage(data.data(), data.size());
      predictions = GetClassifier().Classify(decoded, top);
    }
    py::list result;
    for (const effi::Prediction& p : predictions)
      result.append(py::make_tuple(effi_py::Display(p.label), p.probability, p.index));
    return result;
  }

  py::str Repr() const {
    auto names = [](const std::vector<effi::TensorInfo>& infos) {
      std::string s;
      for (const effi::TensorInfo& i : infos) s += (s.empty() ? "'" : ", '") + i.name + "'";
      return "[" + s + "]";
    };
    return effi_py::Display("<effi.Model inputs=" + names(model_->inputs()) +
                            " outputs=" + names(model_->outputs()) +
                            " threads=" + std::to_string(threads_) + ">");
  }

 private:
  // A session taken from the idle pool (or a new one) for one call, returned afterwards: each
  // concurrent caller gets its own activation arena; an idle session keeps its arena (and its
  // thread pool, at threads > 1) for the next call.
  struct Lease {
    explicit Lease(PyModel& m) : model(m), session(m.Acquire()) {}
    ~Lease() { model.Release(std::move(session)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    PyModel& model;
    std::unique_ptr<effi::Session> session;
  };

  effi::SessionOptions Options() const {
    effi::SessionOptions o;
    o.threads = threads_;
    return o;
  }

  std::unique_ptr<effi::Session> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<effi::Session> s = std::move(idle_.back());
        idle_.pop_back();
        return s;
      }
    }
    return std::make_unique<effi::Session>(model_, Options());
  }

  void Release(std::unique_ptr<effi::Session> session) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(session));
  }

  static py::list Infos(const std::vector<effi::TensorInfo>& infos) {
    py::list l;
    for (const effi::TensorInfo& i : infos) l.append(py::cast(InfoOf(i)));
    return l;
  }

  // Binds one input. A C-contiguous, aligned array of the input's dtype is read in place; another
  // layout is copied once into a contiguous array; another dtype is an error (a silent float64 ->
  // float32 cast would change the values the caller thinks they ran).
  void AddInput(const std::string& name, const py::handle& value, std::vector<py::array>& arrays,
                std::vector<std::pair<std::string, effi::TensorView>>& views) const {
    py::array a = py::array::ensure(value);
    if (!a)
      throw py::type_error("run(): input '" + name + "' is not an array (a " +
                           std::string(py::str(py::type::of(value).attr("__name__"))) + ")");
    effi::ElementType type = TypeOf(a.dtype());
    for (const effi::TensorInfo& info : model_->inputs()) {
      if (info.name != name || type == info.type) continue;
      const std::string want = effi::ElementTypeName(info.type);
      InvalidArgument("input '" + name + "' must be " + want + ", got " +
                      std::string(py::str(a.dtype())) + " (convert it with .astype(numpy." + want +
                      "))");
    }
    const int in_place = static_cast<int>(py::array::c_style) |
                         static_cast<int>(py::detail::npy_api::NPY_ARRAY_ALIGNED_);
    if ((a.flags() & in_place) != in_place) a = py::array::ensure(a, in_place);
    if (!a) throw py::error_already_set();
    std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
    views.emplace_back(name, effi::TensorView{type, a.size() ? a.data() : nullptr, shape});
    arrays.push_back(std::move(a));
  }

  // The classifier (preprocessing and labels from the model's metadata), made on the first
  // classify() call: a model that is no image classifier still loads and runs. Called without the
  // GIL; Classifier::Classify is safe from several threads (it has its own session pool).
  effi::Classifier& GetClassifier() {
    std::lock_guard<std::mutex> lock(classifier_mu_);
    if (!classifier_) classifier_ = std::make_unique<effi::Classifier>(model_, Options());
    return *classifier_;
  }

  std::shared_ptr<const effi::Model> model_;
  int threads_;
  std::mutex mu_;
  std::vector<std::unique_ptr<effi::Session>> idle_;
  std::mutex classifier_mu_;
  std::unique_ptr<effi::Classifier> classifier_;
};

// effi.Error (set once, at import).
py::exception<effi::Error>* g_error = nullptr;

constexpr const char* kModuleDoc =
    R"doc(effi: EfficientFormer inference on the CPU, from the ONNX file.

    import effi, numpy as np
    model = effi.Model("efficientformer_l1.onnx", threads=2)
    out = model.run({"data": np.zeros((1, 3, 224, 224), np.float32)})  # {"output": array}
    model.classify("cat.jpg", top=5)  # [(label, probability, index), ...]

Model.run() may be called from several Python threads at once: each call runs on its own session
(activation arena) and releases the GIL. Errors are raised as effi.Error (a RuntimeError) with
effi's one-line message and a `code` attribute. The SIMD path is capped with the EFFI_MAX_ISA
environment variable (scalar, avx2, avxvnni, avx512, neon), read when the first model loads.
)doc";

}  // namespace

namespace effi_py {

std::string FsPath(const py::handle& path) {
  return py::bytes(py::module_::import("os").attr("fsencode")(path));
}

py::str Display(const std::string& s) { return Decode(s, "replace"); }

}  // namespace effi_py

PYBIND11_MODULE(effi, m) {
  m.doc() = kModuleDoc;
  m.attr("__version__") = effi::Version();
  m.def("active_isa", &effi::ActiveIsa,
        "The SIMD path the kernels run on (after EFFI_MAX_ISA), e.g. 'AVX3 "
        "(gemm_f32_8x48__AVX3)'.");

  // Leaked on purpose: a static py::object would be released after the interpreter has gone.
  g_error = new py::exception<effi::Error>(m, "Error", PyExc_RuntimeError);
  g_error->doc() =
      "An effi failure: str(e) is effi's one-line message; e.code is one of 'invalid_argument', "
      "'invalid_model', 'unsupported', 'io', 'invalid_image', 'internal'.";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const effi::Error& e) {
      py::object exc =
          py::reinterpret_borrow<py::object>(g_error->ptr())(effi_py::Display(e.what()));
      exc.attr("code") = CodeName(e.code());
      PyErr_SetObject(g_error->ptr(), exc.ptr());
    }
  });

  py::class_<PyTensorInfo>(m, "TensorInfo", "A model input or output.")
      .def_readonly("name", &PyTensorInfo::name)
      .def_readonly("dtype", &PyTensorInfo::dtype, "NumPy dtype name, e.g. 'float32'")
      .def_readonly("shape", &PyTensorInfo::shape, "tuple of ints, -1 for a dynamic axis")
      .def("__repr__", [](const PyTensorInfo& i) {
        return py::str("TensorInfo(name={!r}, dtype={!r}, shape={!r})")
            .format(i.name, i.dtype, i.shape);
      });

  py::class_<PyModel>(m, "Model", R"doc(An ONNX model, loaded, validated and compiled once.

Model(path, passes="all", memory_limit=0, threads=1)
  path          str or os.PathLike of an .onnx file
  passes        graph passes: "all", "none", or e.g. "all,-fuse_gelu"
  memory_limit  bytes loading and running may allocate beyond the weights; 0: EFFI_MEMORY_LIMIT
                or 512 MiB, -1: unlimited
  threads       intra-op threads of each run() call (1..256)
)doc")
      .def(py::init(&PyModel::Load), py::arg("path"), py::arg("passes") = "all",
           py::arg("memory_limit") = 0, py::arg("threads") = 1)
      .def_static("from_bytes", &PyModel::FromBytes, py::arg("data"), py::arg("passes") = "all",
                  py::arg("memory_limit") = 0, py::arg("threads") = 1,
                  "Model from the contents of an .onnx file (bytes); options as Model().")
      .def_property_readonly("inputs", &PyModel::Inputs, "list of TensorInfo")
      .def_property_readonly("outputs", &PyModel::Outputs, "list of TensorInfo")
      .def_property_readonly("metadata", &PyModel::Metadata,
                             "the ONNX metadata_props (e.g. 'labels', 'preprocess') as a dict")
      .def_property_readonly("threads", &PyModel::threads)
      .def("run", &PyModel::Run, py::arg("inputs"), R"doc(Runs the model.

inputs: {name: numpy array} with every model input (or one array for a one-input model), each of
the input's dtype (model.inputs[i].dtype) and shape (any size at a -1 axis). A C-contiguous array
is read in place, without a copy (do not write to it from another thread meanwhile); another
layout is copied once; another dtype is an effi.Error. Returns {name: numpy array} of the outputs
in model order. Safe to call from several threads at once; releases the GIL.
)doc")
      .def("classify", &PyModel::Classify, py::arg("image"), py::arg("top") = 5,
           R"doc(Classifies one image with the model's own preprocessing and labels.

image: a JPEG or PNG file (str or os.PathLike), its contents (bytes), or an RGB image as a numpy
uint8 array (height, width, 3). Preprocessing (resize, crop, normalisation) and class names come
from the model's "preprocess" and "labels" metadata, else timm's EfficientFormer defaults and the
class indices. Returns the `top` most probable classes, most probable first, as a list of
(label, probability, index). effi.Error: code 'io' for a missing file, 'invalid_image' for a
corrupt one, 'unsupported' for a model that is not an image classifier. Releases the GIL.
)doc")
      .def("__repr__", &PyModel::Repr);

  effi_py::BindEval(m);
  effi_py::BindQuantize(m);
}
