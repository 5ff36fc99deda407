# acgap's Gymnasium worker: one environment per process, driven by the host over its
# stdin/stdout pipes in the frames below (docs/using-host.md describes its use).
#
# Frames, little-endian. Host -> worker: op (1 byte), payload length (u32), payload.
# Worker -> host: status (1 byte: 0 ok, 1 error, 2 not possible), length (u32), payload.
# Only `make` speaks JSON (once); steps are raw f32/f64 bytes.
import os
import select
import struct
import sys
import time
import traceback

# The protocol owns the real stdout; anything the env prints goes to stderr instead.
OUT = os.dup(1)
os.dup2(2, 1)
IN = 0
os.set_blocking(IN, False)
HEADER = struct.Struct("<BI")
# A request usually follows a reply within tens of microseconds (the host acts, then steps):
# spin this long before sleeping in select(), whose wake-up would cost as much again.
SPIN = 100e-6


def reply(status, payload=b""):
    data = HEADER.pack(status, len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(OUT, view):]


def read_exact(n):
    data = b""
    spin_until = time.perf_counter() + SPIN
    while len(data) < n:
        try:
            chunk = os.read(IN, n - len(data))
        except BlockingIOError:
            if time.perf_counter() > spin_until:
                select.select([IN], [], [])
            continue
        if not chunk:
            sys.exit(0)  # the host went away
        data += chunk
    return data


def main():
    try:
        import json
        import pickle

        import numpy as np
        import gymnasium as gym
    except Exception as e:  # noqa: BLE001 - any import failure is reported the same way
        reply(1, f"cannot import gymnasium in {sys.executable}: {e!r}".encode())
        return
    env = None
    obs_kind = act_kind = None
    while True:
        op, n = HEADER.unpack(read_exact(HEADER.size))
        payload = read_exact(n) if n else b""
        try:
            if op == ord("s"):
                if act_kind[0] == "box":
                    a = np.frombuffer(payload, dtype=np.float32).reshape(act_kind[1].shape)
                    a = np.clip(a, act_kind[1].low, act_kind[1].high).astype(act_kind[1].dtype)
                else:
                    a = int(round(float(np.frombuffer(payload, dtype=np.float32)[0]))) + act_kind[1]
                obs, reward, terminated, truncated, _ = env.step(a)
                reply(0, struct.pack("<dBB", float(reward), bool(terminated), bool(truncated))
                      + encode(obs, obs_kind))
            elif op == ord("r"):
                has_seed, seed = struct.unpack("<BQ", payload)
                obs, _ = env.reset(seed=seed if has_seed else None)
                reply(0, encode(obs, obs_kind))
            elif op == ord("m"):
                request = json.loads(payload)
                env = gym.make(request["id"], **request["kwargs"])
                obs_kind, obs_space = space(env.observation_space, "observation")
                act_kind, act_space = space(env.action_space, "action")
                spec = {"observation": obs_space, "action": act_space,
                        "max_episode_steps": env.spec.max_episode_steps if env.spec else None}
                reply(0, json.dumps(spec).encode())
            elif op == ord("p"):
                if isinstance(env.unwrapped, gym.utils.EzPickle):
                    reply(2, b"the env pickles its constructor arguments, not its state "
                             b"(gymnasium.utils.EzPickle)")
                else:
                    reply(0, pickle.dumps(env))
            elif op == ord("l"):
                env.close()
                env = pickle.loads(payload)
                reply(0)
            elif op == ord("q"):
                return
            else:
                reply(1, f"unknown request {op}".encode())
        except Unsupported as e:
            reply(1, str(e).encode())
        except Exception:  # noqa: BLE001 - the host shows the env's own error
            reply(1, traceback.format_exc().encode())


class Unsupported(Exception):
    pass


def space(s, what):
    """acgap's view of a Gymnasium space: ((kind, decode info), EnvSpec JSON)."""
    import numpy as np
    import gymnasium as gym

    if isinstance(s, gym.spaces.Discrete):
        return ("discrete", int(s.start)), {"discrete": {"n": int(s.n)}}
    if isinstance(s, gym.spaces.Box):
        def bounds(x):
            return [v if np.isfinite(v) else ("inf" if v > 0 else "-inf")
                    for v in np.asarray(x, dtype=np.float64).ravel().tolist()]
        return ("box", s), {"box": {"low": bounds(s.low), "high": bounds(s.high)}}
    raise Unsupported(f"the {what} space {s} is not supported (acgap takes Box and Discrete)")


def encode(obs, kind):
    import numpy as np

    if kind[0] == "discrete":
        return struct.pack("<f", float(int(obs) - kind[1]))
    return np.asarray(obs, dtype=np.float32).tobytes()


if __name__ == "__main__":
    main()
