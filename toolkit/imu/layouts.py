"""Other tools' CSV layouts for IMU recordings, and time units other than seconds.

A layout names the file's header for each of our columns (``t,ax,ay,az,gx,gy,gz``, optionally
``qw,qx,qy,qz``) and the unit of its time column. Header names are compared lowercased with a leading
``#`` dropped, as ``neuroedge.imu.recording`` reads them.

* ``euroc``: the EuRoC MAV and TUM-VI ``imu0/data.csv`` (``#timestamp [ns],w_RS_S_x [rad s^-1],...,
  a_RS_S_z [m s^-2]``): time in ns, gyro in rad/s, accelerometer in m/s². Their ground truth is a
  separate file at other timestamps, so no reference columns.
* ``ros``: ``rostopic echo -p /imu`` of a ``sensor_msgs/Imu`` topic (``%time,field.header.seq,...,
  field.angular_velocity.x,...,field.linear_acceleration.z``): time in ns. Its ``field.orientation``
  is the sensor's own estimate, not a reference, so it is not read.

A file whose header has none of our names but all of one layout's is read as that layout (and the
caller says so); ``--layout`` forces one, and ``--columns`` overrides single names on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Layout:
    """Our column name -> the file's header name (lowercased, no leading '#'); the time column's unit."""

    columns: dict[str, str] = field(default_factory=dict)
    time_units: str = "s"
    description: str = ""


_EUROC_AXES = {"gx": "w_rs_s_x [rad s^-1]", "gy": "w_rs_s_y [rad s^-1]", "gz": "w_rs_s_z [rad s^-1]",
               "ax": "a_rs_s_x [m s^-2]", "ay": "a_rs_s_y [m s^-2]", "az": "a_rs_s_z [m s^-2]"}

LAYOUTS: dict[str, Layout] = {
    "neuroedge": Layout({}, "s", "t,ax,ay,az,gx,gy,gz[,qw,qx,qy,qz]; t in seconds"),
    "euroc": Layout({"t": "timestamp [ns]", **_EUROC_AXES}, "ns", "EuRoC MAV / TUM-VI imu0/data.csv"),
    "ros": Layout({"t": "%time", **{f"{s}{a}": f"field.{name}.{a}" for s, name in
                                    (("g", "angular_velocity"), ("a", "linear_acceleration"))
                                    for a in "xyz"}}, "ns", "rostopic echo -p of a sensor_msgs/Imu topic"),
}

# Reference quaternion conventions ``neuroedge.imu.reference`` converts (named here so the command line's
# parser needs no numpy), the model's own first: which way the quaternion turns, and which of the
# reference world's axes points up (NED is z-down; OptiTrack's default world is y-up).
REFERENCE_FRAMES = ("body-to-world", "world-to-body")
REFERENCE_WORLDS = ("z-up", "z-down", "y-up", "y-down", "x-up", "x-down")

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def header_name(cell: str) -> str:
    """How a header cell is compared: stripped, lowercased, without a leading '#' (EuRoC's comment mark)."""
    return cell.strip().lower().lstrip("#").strip()


def detect(header: list[str]) -> str | None:
    """The one layout (other than ours) whose every name is in ``header``, if any."""
    found = [name for name, lay in LAYOUTS.items() if lay.columns and all(h in header for h in lay.columns.values())]
    return found[0] if len(found) == 1 else None


def time_unit_hint(step: float) -> str:
    """For a median time step that is implausible in seconds: the unit that would make it 1-10000 Hz."""
    for unit, scale in (("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if 1e-4 <= step * scale <= 1.0:
            return f"; it looks like {unit}: pass --time-units {unit}"
    return ""
