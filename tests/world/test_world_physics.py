import numpy as np
import pytest

from chronotope.world import shapes
from chronotope.world.physics import (
    GRAVITY,
    Ballistic,
    Bounce,
    Collision,
    Hops,
    Linear,
    elastic_velocities,
)


def test_linear_has_constant_velocity():
    t = np.linspace(0, 3, 31)
    x, y = Linear(x0=0.2, y0=0.5, vx=-0.1, vy=0.05).position(t)
    assert np.allclose(np.diff(x), -0.01) and np.allclose(np.diff(y), 0.005)


def test_ballistic_is_a_parabola_with_gravity():
    t = np.linspace(0, 2, 201)
    x, y = Ballistic(x0=0.1, y0=0.8, vx=0.3, vy=-1.0).position(t)
    dt = t[1] - t[0]
    assert np.allclose(np.diff(x), 0.3 * dt)
    assert np.allclose(np.diff(y, 2), GRAVITY * dt * dt)  # constant downward acceleration
    apex = t[np.argmin(y)]
    assert apex == pytest.approx(1.0 / GRAVITY, abs=dt)


def test_bounce_accelerates_until_impact_then_loses_energy():
    b = Bounce(x0=0.5, y0=0.2, floor_y=0.9, restitution=0.6)
    t1 = b.fall_time
    assert t1 == pytest.approx(np.sqrt(2 * 0.7 / GRAVITY))
    t = np.linspace(0, t1, 50)
    _, y = b.position(t)
    v = np.diff(y)
    assert np.all(v > 0) and np.all(np.diff(v) > 0)  # moving down, faster and faster
    assert y[-1] == pytest.approx(0.9)
    # apex of bounce k is e^(2k) times the drop height
    starts, speeds = b.bounce_times()
    for k in range(3):
        apex_t = starts[k] + speeds[k] / GRAVITY
        _, ya = b.position(np.array([apex_t]))
        assert 0.9 - ya[0] == pytest.approx(0.7 * 0.6 ** (2 * (k + 1)), rel=1e-9)
    # never below the floor, and at rest eventually
    _, y = b.position(np.linspace(0, 20, 20001))
    assert y.max() <= 0.9 + 1e-12
    assert np.all(y[-100:] == 0.9)


def test_collision_conserves_momentum_and_energy():
    m1, m2, v1, v2 = 0.02, 0.05, 0.3, -0.2
    a, b = elastic_velocities(m1, v1, m2, v2)
    assert m1 * a + m2 * b == pytest.approx(m1 * v1 + m2 * v2)
    assert m1 * a * a + m2 * b * b == pytest.approx(m1 * v1 * v1 + m2 * v2 * v2)
    assert elastic_velocities(1.0, 0.3, 1.0, -0.2) == pytest.approx((-0.2, 0.3))  # equal: swap
    c = Collision(x0=0.0, y0=0.5, vx=0.3, t_hit=1.0, vx_after=-0.1)
    x, _ = c.position(np.array([0.0, 1.0, 2.0]))
    assert x == pytest.approx([0.0, 0.3, 0.2])


def test_contact_distance_matches_geometry():
    # two circles at different heights touch at the Euclidean distance r1 + r2
    d = shapes.contact_distance(("circle", 0.2, 0.5), ("circle", 0.1, 0.55))
    assert d == pytest.approx(np.sqrt(0.15**2 - 0.05**2), abs=1e-4)
    # squares side by side: half sides; triangles on one baseline touch at their base corners
    assert shapes.contact_distance(("square", 0.2, 0.5), ("square", 0.1, 0.5)) == pytest.approx(
        0.15
    )
    ya, yb = 0.8 - 0.2 / 3, 0.8 - 0.1 / 3
    d = shapes.contact_distance(("triangle", 0.2, ya), ("triangle", 0.1, yb))
    assert d == pytest.approx(0.15, abs=1e-4)


def test_hops_repeat_and_move_only_in_the_air():
    h = Hops(x0=0.3, y0=0.7, t0=0.2, v_jump=1.0, vx_air=0.25, pause=0.3)
    flight = 2 / GRAVITY
    t = np.array([0.0, 0.2, 0.2 + flight / 2, 0.2 + flight, 0.2 + flight + 0.2])
    x, y = h.position(t)
    assert y[0] == y[1] == 0.7 and y[3] == pytest.approx(0.7) and y[4] == pytest.approx(0.7)
    assert y[2] == pytest.approx(0.7 - 1.0 / (2 * GRAVITY))  # apex v^2 / 2g above the ground
    assert x[3] == pytest.approx(0.3 + 0.25 * flight) and x[4] == pytest.approx(x[3])
    period = flight + 0.3
    x2, y2 = h.position(t[2:3] + period)
    assert y2[0] == pytest.approx(y[2]) and x2[0] == pytest.approx(x[2] + 0.25 * flight)
