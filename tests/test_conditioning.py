"""normres.probes.conditioning: the Hessian and its condition number, the step-size rules, gradient descent
paths against the closed-form error recursion, and iterations to a tolerance against theory."""

import math

import numpy as np
import pytest

from normres.probes import conditioning as C


def scaled_problem(scale=10.0, n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2)) * np.array([1.0, scale])
    y = X @ np.array([1.5, -0.2]) + 0.1 * rng.standard_normal(n)
    return X, y


def test_hessian_and_condition_number():
    X = np.array([[1.0, 0.0], [0.0, 3.0], [1.0, 3.0], [-1.0, -3.0]])
    H = C.hessian(X)
    np.testing.assert_allclose(H, X.T @ X / 4)
    lam = np.linalg.eigvalsh(H)
    assert C.condition_number(X) == pytest.approx(lam[-1] / lam[0])
    assert C.safe_step(X) == pytest.approx(1 / lam[-1])
    assert C.optimal_step(X) == pytest.approx(2 / (lam[0] + lam[-1]))
    assert C.condition_number(np.ones((3, 2))) == math.inf


def test_scaling_a_feature_scales_kappa_and_standardizing_removes_it():
    X, _ = scaled_problem(scale=10.0)
    assert 70 < C.condition_number(X) < 140
    Z = (X - X.mean(0)) / X.std(0)
    assert C.condition_number(Z) < 1.3


def test_loss_matches_definition_and_broadcasts_over_a_grid():
    X, y = scaled_problem()
    w = np.array([0.3, 0.1])
    assert C.loss(X, y, w) == pytest.approx(0.5 * np.mean((X @ w - y) ** 2))
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3)), axis=-1)  # (3, 4, 2)
    out = C.loss(X, y, grid)
    assert out.shape == (3, 4)
    assert out[1, 2] == pytest.approx(C.loss(X, y, grid[1, 2]))
    w_star = C.solve(X, y)
    assert C.loss(X, y, w_star) <= C.loss(X, y, w_star + 1e-3)


def test_gradient_descent_follows_the_error_recursion():
    X, y = scaled_problem()
    H = C.hessian(X)
    w_star = C.solve(X, y)
    lr = C.optimal_step(X)
    path = C.gradient_descent(X, y, lr, 25, w0=np.array([1.0, 1.0]))
    assert path.shape == (26, 2)
    np.testing.assert_allclose(path[0], [1.0, 1.0])
    M = np.eye(2) - lr * H
    e = np.array([1.0, 1.0]) - w_star
    for k in (1, 7, 25):
        np.testing.assert_allclose(path[k] - w_star, np.linalg.matrix_power(M, k) @ e, atol=1e-10)


def test_optimal_step_zigzags_along_the_steep_direction():
    X, y = scaled_problem()
    w_star = C.solve(X, y)
    path = C.gradient_descent(X, y, C.optimal_step(X), 10)
    err = path - w_star  # the steep direction is (nearly) axis 1, the large-scale feature
    signs = np.sign(err[1:, 1])
    assert np.all(signs[1:] == -signs[:-1])


def test_iterations_to_tolerance_matches_theory_and_standardizing_speeds_up():
    X, y = scaled_problem()
    kappa = C.condition_number(X)
    k = C.iterations_to_tolerance(X, y, C.optimal_step(X), tol=1e-6)
    # loss gap shrinks at worst by ((kappa-1)/(kappa+1))^2 per step
    bound = math.log(1e6) / (2 * math.log((kappa + 1) / (kappa - 1)))
    assert 0.5 * bound < k <= math.ceil(bound) + 1
    Z = (X - X.mean(0)) / X.std(0)
    k_std = C.iterations_to_tolerance(Z, y - y.mean(), C.optimal_step(Z), tol=1e-6)
    assert k_std * 20 < k
    assert C.iterations_to_tolerance(X, y, 2.2 / np.linalg.eigvalsh(C.hessian(X))[-1],
                                     max_steps=500) == 501


@pytest.mark.parametrize("call,match", [
    (lambda X, y: C.hessian(np.ones(3)), "X must be a 2-D"),
    (lambda X, y: C.loss(X, y[:-1], np.zeros(2)), "y must have shape"),
    (lambda X, y: C.loss(X, y, np.zeros(3)), "w must have shape"),
    (lambda X, y: C.gradient_descent(X, y, -0.1, 3), "lr must be a positive"),
    (lambda X, y: C.gradient_descent(X, y, 0.1, 2.5), "steps must be"),
    (lambda X, y: C.gradient_descent(X, y, 0.1, 3, w0=np.zeros(3)), "w0 must have shape"),
    (lambda X, y: C.iterations_to_tolerance(X, y, 0.1, tol=2.0), "tol must be"),
])
def test_bad_input_is_named(call, match):
    X, y = scaled_problem(n=20)
    with pytest.raises(ValueError, match=match):
        call(X, y)
