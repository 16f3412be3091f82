"""Smoke test: the session deployment is wired as the deploy script wires it."""


def test_deploy__wires_every_contract(system, ma, liquidator, oracle):
    assert ma.liquidator() == liquidator.address
    assert ma.oracle() == oracle.address
    listed = ma.listedAssets()
    assert [a.token.address for a in system.assets.values()] == list(listed)
    for a in system.assets.values():
        cfg = ma.assetConfig(a.token)
        assert cfg.vault == a.vault.address
        assert cfg.scale == 10**a.decimals
        assert a.vault.marginAccount() == ma.address
        assert oracle.price(a.token)[0] == a.spec.price
        assert (cfg.imf, cfg.mmf) == (a.spec.imf, a.spec.mmf)
        assert (cfg.minDiscount, cfg.maxDiscount, cfg.minDebtValue) == (
            a.spec.min_discount,
            a.spec.max_discount,
            a.spec.min_debt_value,
        )
    assert liquidator.marginAccount() == ma.address
    assert (liquidator.insuranceShare(), liquidator.targetHealth()) == (
        system.config.insurance_share,
        system.config.target_health,
    )


def test_long_eth__borrow_usdc__health_matches_mirror(act, usdc, weth, lender, trader):
    act.lend(usdc, lender, "100000")
    act.deposit(weth, trader, "10")
    act.borrow(usdc, trader, "20000")
    assert act.health(trader) == act.mirror_health(trader)
    assert act.health(trader).meets_initial
