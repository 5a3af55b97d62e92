"""TensorRT: engine build and runtime session, shared by the ``tensorrt`` converter/target and the Jetson board.

Two halves, by where they run:

* shipped to the board (stdlib + numpy + the board's TensorRT or onnxruntime, Python 3.8+, no neuroedge
  import, relative imports only): ``cuda`` (libcuda/libcudart through ctypes), ``build`` (precision
  checks, the engine build, compatibility), ``session`` (TensorRT 8.x/10.x and onnxruntime sessions,
  timed as trtexec does) and ``runner`` (the command the board runs: ``python3 -m trt.runner``, from the
  job folder the jetson target uploads this package into, under the folder name ``trt``);
* host only, never shipped: ``qdq`` (Q/DQ analysis and the prep pass, which need the ``onnx`` package).
"""

# The files the jetson target uploads (as the package ``trt``); ``qdq.py`` stays on the host.
BOARD_FILES = ("__init__.py", "cuda.py", "build.py", "session.py", "runner.py")
