// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

/// @title IVault
/// @notice ERC-4626 lending vault for one asset. Lenders hold shares; the MarginAccount is the only
///         borrower. Units: `assets` are token base units; rates, factors and the borrow index are
///         WAD (1e18 = 100% or 1.0); rates are per year unless a name says per second.
interface IVault is IERC4626 {
    /// @notice Kinked utilization rate model, all values WAD per year (kink is a utilization, WAD).
    struct RateModel {
        uint64 baseRate;
        uint64 slope1;
        uint64 slope2;
        uint64 kink;
    }

    // ------------------------------------------------------------------ errors
    /// @notice Caller is not the MarginAccount this vault lends to.
    error NotMarginAccount(address caller);
    /// @notice Not enough idle cash in the vault for the requested borrow or withdrawal.
    error InsufficientCash(uint256 available, uint256 requested);
    /// @notice A rate model or reserve factor outside the hard bounds.
    error InvalidRateModel();
    /// @notice Reserve factor above MAX_RESERVE_FACTOR.
    error InvalidReserveFactor(uint256 reserveFactor);
    /// @notice Withdrawal from the insurance fund above what it holds or the vault's cash.
    error InsufficientInsurance(uint256 available, uint256 requested);
    /// @notice Amount must be non-zero.
    error ZeroAmount();
    /// @notice Address must be non-zero.
    error ZeroAddress();

    // ------------------------------------------------------------------ events
    /// @notice Interest was accrued.
    /// @param interest New interest owed by borrowers, in assets.
    /// @param toInsurance Part of `interest` added to the insurance fund (reserve factor).
    /// @param borrowIndex Borrow index after accrual (WAD, starts at 1e18).
    /// @param totalBorrows Total debt owed to the vault after accrual, in assets.
    event InterestAccrued(uint256 interest, uint256 toInsurance, uint256 borrowIndex, uint256 totalBorrows);
    /// @notice The MarginAccount borrowed `assets` and sent them to `receiver`.
    event Borrowed(address indexed receiver, uint256 assets, uint256 totalBorrows);
    /// @notice The MarginAccount repaid `assets` of debt.
    event Repaid(uint256 assets, uint256 totalBorrows);
    /// @notice Bad debt was written off: `coveredByInsurance` came out of the insurance fund and
    ///         `socialized` was taken from the lenders (total assets fell by exactly that amount).
    event BadDebtRealized(uint256 amount, uint256 coveredByInsurance, uint256 socialized);
    /// @notice The insurance fund grew by `assets` paid by `from` (liquidation cut or a top-up).
    event InsuranceFunded(address indexed from, uint256 assets, uint256 insuranceFund);
    /// @notice The admin withdrew `assets` from the insurance fund to `to`.
    event InsuranceWithdrawn(address indexed to, uint256 assets, uint256 insuranceFund);
    /// @notice The admin changed the rate model.
    event RateModelSet(uint64 baseRate, uint64 slope1, uint64 slope2, uint64 kink);
    /// @notice The admin sent `assets` that were transferred to the vault outside its accounting
    ///         (donations, mistakes) to `to`. Lenders' and insurance assets are never touched.
    event Skimmed(address indexed to, uint256 assets);
    /// @notice The admin changed the reserve factor (WAD share of interest sent to insurance).
    event ReserveFactorSet(uint256 reserveFactor);
    /// @notice A liquidation's repayment was booked: `repaid` of debt, `insuranceFee` into the
    ///         insurance fund paid by `payer` on top, `insuranceTip` out of the fund to `payer` (the
    ///         keeper floor on deep or insolvent accounts), so the vault received repaid +
    ///         insuranceFee - insuranceTip. One event for the three changes.
    event LiquidationRepaid(
        address indexed payer,
        uint256 repaid,
        uint256 insuranceFee,
        uint256 insuranceTip,
        uint256 totalBorrows,
        uint256 insuranceFund
    );
    /// @notice A deposit into the insurance fund would take the books above MAX_TOTAL_ASSETS.
    error AboveMaxTotalAssets(uint256 total, uint256 max);
    /// @notice The borrow index reached MAX_BORROW_INDEX: interest stopped accruing (it would
    ///         otherwise overflow and freeze the vault).
    event BorrowIndexCapped(uint256 borrowIndex);

    // ------------------------------------------------------------------ views
    /// @notice The MarginAccount allowed to borrow, repay and report bad debt.
    function marginAccount() external view returns (address);
    /// @notice The kinked utilization rate model (WAD per year; kink is a utilization, WAD).
    function rateModel() external view returns (RateModel memory);
    /// @notice Idle assets held by the vault (lent-out assets excluded), insurance included.
    function cash() external view returns (uint256);
    /// @notice Debt owed to the vault, interest accrued up to now, in assets.
    function totalBorrows() external view returns (uint256);
    /// @notice Insurance fund (a claim on the vault's assets, outside the lenders' total assets), accrued up to now.
    function insuranceFund() external view returns (uint256);
    /// @notice Borrow index accrued up to now (WAD). Debt of a borrower = scaled debt * index / 1e18.
    function borrowIndex() external view returns (uint256);
    /// @notice Borrow index and insurance fund, both accrued up to now, in one call.
    function indexAndInsurance() external view returns (uint256 index, uint256 insurance);
    /// @notice Utilization = borrows / (cash + borrows), WAD.
    function utilization() external view returns (uint256);
    /// @notice Current borrow rate, WAD per second, at the utilization after accrual up to now.
    function borrowRatePerSecond() external view returns (uint256);

    // ------------------------------------------------------------------ anyone
    /// @notice Accrues interest up to this block (anyone may call; the MarginAccount does on every action).
    /// @return index Borrow index (WAD) after accrual.
    /// @return borrows Total borrows (assets) after accrual.
    function accrueInterest() external returns (uint256 index, uint256 borrows);

    // ------------------------------------------------------------------ MarginAccount only
    /// @notice Lends `assets` to `receiver`. Only the MarginAccount.
    /// @return index The borrow index (WAD) used, after accrual.
    function borrow(uint256 assets, address receiver) external returns (uint256 index);
    /// @notice Records a repayment of `assets`, already transferred to the vault. Only the MarginAccount.
    function repay(uint256 assets) external;
    /// @notice Records a liquidation's repayment of `assets`, the insurance fee `insuranceFee` paid by
    ///         `payer` into the insurance fund and the tip `insuranceTip` the fund pays `payer`: the
    ///         vault receives assets + insuranceFee - insuranceTip (transferred in the same
    ///         transaction). Reverts InsufficientInsurance if the fund (plus the fee) cannot pay the
    ///         tip. Only the MarginAccount.
    function repayLiquidation(uint256 assets, uint256 insuranceFee, uint256 insuranceTip, address payer) external;
    /// @notice Writes off `assets` of unrecoverable debt: insurance fund first, then the lenders.
    ///         Only the MarginAccount.
    /// @return covered Part paid by the insurance fund.
    /// @return socialized Part taken from the lenders' assets.
    function realizeBadDebt(uint256 assets) external returns (uint256 covered, uint256 socialized);

    // ------------------------------------------------------------------ anyone / admin
    /// @notice Pulls `assets` from the caller into the insurance fund.
    function fundInsurance(uint256 assets) external;
    /// @notice Sends tokens held beyond the vault's books (balance - cash) to `to`. Admin only.
    /// @return assets Amount sent.
    function skim(address to) external returns (uint256 assets);
}
