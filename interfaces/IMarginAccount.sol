// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMarginConfig} from "./IMarginConfig.sol";

/// @title IMarginAccount
/// @notice Cross-margin accounts of signed per-asset balances. An account is (owner, subId); each
///         sub-account is an isolated margin account. A positive balance is collateral held here; a
///         negative balance is debt borrowed from the asset's vault, growing with its borrow index.
/// @dev Units. Token amounts: the token's base units. Prices and values: USD, WAD (1e18 = $1).
///      Margin factors: WAD (0.1e18 = 10%). With prices p_i and balances b_i (in whole tokens):
///        equity E = sum(b_i * p_i)
///        initial margin requirement     IMR = sum(|b_i * p_i| * imf_i)
///        maintenance margin requirement MMR = sum(|b_i * p_i| * mmf_i)
///      Collateral values round down, debt values and requirements round up (protocol's favour).
interface IMarginAccount is IMarginConfig {
    /// @notice What the Liquidator needs to price one liquidation of (debt asset, collateral asset),
    ///         read in one pass over the account.
    /// @param equity Account equity, USD WAD (negative when insolvent).
    /// @param mmr Maintenance margin requirement, USD WAD.
    /// @param debt Debt of the account in the debt asset, token units, rounded up (0 if none).
    /// @param collateral Collateral of the account in the collateral asset, token units (0 if none).
    /// @param debtPrice Oracle price of the debt asset, USD WAD per whole token.
    /// @param collateralPrice Oracle price of the collateral asset, USD WAD per whole token.
    /// @param debtScale 10**decimals of the debt asset.
    /// @param collateralScale 10**decimals of the collateral asset.
    /// @param debtMmf Maintenance margin factor of the debt asset, WAD.
    /// @param collateralMmf Maintenance margin factor of the collateral asset, WAD.
    /// @param minDiscount Discount floor of the collateral asset, WAD.
    /// @param maxDiscount Discount cap of the collateral asset, WAD.
    /// @param minDebtValue Dust floor of the debt asset, USD WAD.
    /// @param debtIndex Borrow index of the debt asset's vault, accrued to now, WAD.
    /// @param debtId Asset id of the debt asset.
    /// @param collateralId Asset id of the collateral asset.
    /// @param collateralAssets Number of assets the account holds as collateral.
    /// @param debtScaled Scaled debt of the account in the debt asset (debt = ceil(debtScaled * debtIndex / 1e18)).
    /// @param insuranceFund Insurance fund of the debt asset's vault, accrued to now, token units (in a
    ///        batch: what is left of it after the batch's earlier liquidations).
    /// @param debtCurve Maintenance curve of the debt asset liquidations use now, packed
    ///        (MarginMath.pack; debtMmf is its value at the debt's current size); 0 for a static
    ///        asset (mmf = debtMmf at any size).
    /// @param collateralCurve Maintenance curve of the collateral asset (collateralMmf likewise).
    struct LiquidationSnapshot {
        int256 equity;
        uint256 mmr;
        uint256 debt;
        uint256 collateral;
        uint256 debtPrice;
        uint256 collateralPrice;
        uint256 debtScale;
        uint256 collateralScale;
        uint256 debtMmf;
        uint256 collateralMmf;
        uint256 minDiscount;
        uint256 maxDiscount;
        uint256 minDebtValue;
        uint256 debtIndex;
        uint256 debtId;
        uint256 collateralId;
        uint256 collateralAssets;
        uint256 debtScaled;
        uint256 insuranceFund;
        uint256 debtCurve;
        uint256 collateralCurve;
    }



    /// @notice An account: (owner, sub-account id).
    struct AccountId {
        address owner;
        uint96 subId;
    }

    /// @notice Why a liquidation of a (debt, collateral) pair cannot go ahead (OK = it can).
    ///         REPAY_TOO_SMALL: maxRepay is below one scaled unit of debt (nothing would be repaid);
    ///         SLIPPAGE: in a batch, the target would give less collateral per unit repaid than the
    ///         keeper's minimum.
    enum LiquidationStatus {
        OK,
        HEALTHY,
        NO_DEBT,
        NO_COLLATERAL,
        DUST,
        REPAY_TOO_SMALL,
        SLIPPAGE
    }

    /// @notice A liquidation priced by the liquidation engine from a snapshot the MarginAccount took.
    /// @param status OK, or why it cannot go ahead.
    /// @param repayScaled Scaled debt to burn (the account's whole scaled debt for a full repayment).
    /// @param repay Debt tokens the burn takes off the debt, which the liquidator pays.
    /// @param seize Collateral tokens the liquidator receives.
    /// @param insuranceFee Debt tokens the liquidator pays on top, into the debt vault's insurance fund.
    /// @param insuranceTip Debt tokens the debt vault's insurance fund pays the liquidator (taken off
    ///        what it pays) where the account's own discount is below the keeper floor.
    /// @param discount Discount on the collateral's oracle price the account pays, WAD.
    /// @param health Account health before the liquidation, WAD.
    /// @param debtLeftValue Value of the debt left, USD WAD (set when there is one).
    struct LiquidationQuote {
        LiquidationStatus status;
        uint256 repayScaled;
        uint256 repay;
        uint256 seize;
        uint256 insuranceFee;
        uint256 insuranceTip;
        uint256 discount;
        uint256 health;
        uint256 debtLeftValue;
    }

    /// @notice A liquidation the Liquidator asks the MarginAccount to price (through the engine) and settle.
    /// @param owner Account owner.
    /// @param subId Sub-account.
    /// @param liquidator Who pays and receives the collateral (the caller of Liquidator.liquidate).
    /// @param debtAsset Asset repaid.
    /// @param collateralAsset Asset seized.
    /// @param maxRepay Most debt tokens to repay.
    /// @param minSeized Least collateral tokens to receive (SlippageExceeded otherwise).
    struct LiquidationOrder {
        address owner;
        uint96 subId;
        address liquidator;
        address debtAsset;
        address collateralAsset;
        uint256 maxRepay;
        uint256 minSeized;
    }

    // ------------------------------------------------------------------ errors
    /// @notice The action would leave equity below the initial margin requirement.
    error InsufficientMargin(int256 equity, uint256 required);
    /// @notice The callback of a flash liquidation went to an address with no code.
    error CallbackToNonContract(address liquidator);
    /// @notice `caller` may not act for `owner`'s accounts.
    error NotAuthorized(address caller, address owner);
    /// @notice Only the Liquidator may call this.
    error NotLiquidator(address caller);
    /// @notice Amount must be non-zero.
    error ZeroAmount();
    /// @notice Withdrawal or transfer above the account's collateral in that asset.
    error InsufficientCollateral(address asset, uint256 collateral, uint256 requested);
    /// @notice Borrowing an asset the account holds as collateral; withdraw it instead.
    error BorrowAgainstOwnCollateral(address asset, uint256 collateral);
    /// @notice The account owes nothing in that asset.
    error NoDebt(address asset);
    /// @notice Total collateral of the asset would exceed its cap.
    error CollateralCapExceeded(address asset, uint256 total, uint256 cap);
    /// @notice Total borrows of the asset would exceed its cap.
    error DebtCapExceeded(address asset, uint256 total, uint256 cap);
    /// @notice The account would hold more than MAX_ASSETS_PER_ACCOUNT assets.
    error TooManyAssets(uint256 max);
    /// @notice Source and destination sub-accounts are the same.
    error SameSubAccount(uint96 subId);
    /// @notice Bad debt can be written off only when the account holds no collateral.
    error AccountHasCollateral(address owner, uint96 subId);
    /// @notice The action would leave a debt worth `debtLeftValue` (USD WAD), below the asset's dust
    ///         floor `minDebtValue`. Repay all of it, or leave at least the floor.
    error DustRemaining(uint256 debtLeftValue, uint256 minDebtValue);
    /// @notice `amount` is below one scaled unit of debt and would repay nothing; at least `minAmount`.
    error RepayTooSmall(uint256 amount, uint256 minAmount);
    /// @notice The account is not below maintenance margin (equity >= MMR): nothing to liquidate.
    error AccountHealthy(int256 equity, uint256 mmr);
    /// @notice The account owes nothing in the debt asset.
    error NothingToRepay(address debtAsset);
    /// @notice The account holds none of the collateral asset.
    error NoCollateral(address collateralAsset);
    /// @notice Less collateral would be received than the liquidator's minimum.
    error SlippageExceeded(uint256 seized, uint256 minSeized);
    /// @notice The engine's quote repays more than the liquidator's maxRepay.
    error RepayAboveMax(uint256 repay, uint256 maxRepay);
    /// @notice The engine's quote seizes collateral worth more than the repayment at the largest
    ///         discount the account can pay (min(maxDiscount, health-preserving discount)).
    error SeizeAboveBound(uint256 seizeValue, uint256 maxSeizeValue);
    /// @notice The engine's quote tips the liquidator from insurance beyond topping its discount d up
    ///         to minDiscount: repay * (minDiscount / (1 - minDiscount) - d / (1 - d)), 0 when d >= minDiscount.
    error TipAboveBound(uint256 tip, uint256 maxTip);
    /// @notice The engine's quote makes the liquidator pay more than it receives at oracle prices
    ///         (USD WAD; rounding aside: one collateral and two debt base units, and on a take-all
    ///         the one scaled debt unit that whole units may overshoot by).
    error PayerShortchanged(uint256 received, uint256 paid);
    /// @notice The engine names the MarginAccount itself, or no one, as the liquidator that pays.
    error InvalidPayer(address payer);

    // ------------------------------------------------------------------ events
    /// @notice `amount` of `asset` from `from` became collateral of (owner, subId).
    event Deposited(address indexed owner, uint96 indexed subId, address indexed asset, address from, uint256 amount);
    /// @notice `amount` of `asset` debt of (owner, subId) was repaid by `from` (the MarginAccount
    ///         itself when collateral moved in from another sub-account repaid it).
    event Repaid(address indexed owner, uint96 indexed subId, address indexed asset, address from, uint256 amount);
    /// @notice `amount` of `asset` collateral of (owner, subId) was sent to `to`.
    event Withdrawn(address indexed owner, uint96 indexed subId, address indexed asset, address to, uint256 amount);
    /// @notice (owner, subId) borrowed `amount` of `asset`, sent to `to`.
    event Borrowed(address indexed owner, uint96 indexed subId, address indexed asset, address to, uint256 amount);
    /// @notice `amount` of `asset` collateral moved from sub-account `fromSubId` to `toSubId` of `owner`.
    event Transferred(address indexed owner, uint96 fromSubId, uint96 toSubId, address indexed asset, uint256 amount);
    /// @notice `owner` approved or revoked `operator` for all its sub-accounts.
    event OperatorSet(address indexed owner, address indexed operator, bool approved);
    /// @notice A liquidation settled: `liquidator` repaid `repaid` of `debtAsset` and received `seized`
    ///         of `collateralAsset`, bought at the oracle price times (1 - `discount`); it paid
    ///         `insuranceFee` of the debt asset into the vault's insurance fund and was paid
    ///         `insuranceTip` out of it (so it transferred repaid + insuranceFee - insuranceTip).
    ///         `health` is equity / MMR before (WAD); the discount is a function of it (see
    ///         docs/liquidation.md). `badDebt` is the debt of `debtAsset` written off in the same
    ///         transaction because no collateral was left.
    event Liquidated(
        address indexed owner,
        uint96 indexed subId,
        address indexed liquidator,
        address debtAsset,
        uint256 repaid,
        address collateralAsset,
        uint256 seized,
        uint256 insuranceFee,
        uint256 insuranceTip,
        uint256 discount,
        uint256 health,
        uint256 badDebt
    );
    /// @notice A batch passed over an account it could not liquidate.
    event LiquidationSkipped(address indexed owner, uint96 indexed subId, LiquidationStatus status);
    /// @notice Debt of an account with no collateral left was written off through the vault:
    ///         `covered` by the insurance fund, `socialized` among lenders.
    event BadDebtWrittenOff(
        address indexed owner, uint96 indexed subId, address indexed asset, uint256 amount, uint256 covered, uint256 socialized
    );

    // ------------------------------------------------------------------ views
    /// @notice Total collateral of `asset` held for all accounts, token units.
    function totalCollateral(address asset) external view returns (uint256);
    /// @notice Whether `operator` may act for all of `owner`'s sub-accounts.
    function isOperator(address owner, address operator) external view returns (bool);
    /// @notice Stored balance: positive = collateral in token units, negative = scaled debt
    ///         (debt in tokens = ceil(-raw * borrowIndex / 1e18)).
    function rawBalance(address owner, uint96 subId, address asset) external view returns (int256);
    /// @notice Balance in token units: collateral positive, debt (accrued up to now, rounded up) negative.
    function balanceOf(address owner, uint96 subId, address asset) external view returns (int256);
    /// @notice Assets with a non-zero balance in the account.
    function accountAssets(address owner, uint96 subId) external view returns (address[] memory);
    /// @notice Equity, IMR and MMR (USD WAD) and health = equity / MMR (WAD; 0 if equity <= 0,
    ///         type(uint256).max if MMR = 0) of an account, in one call.
    function accountHealth(address owner, uint96 subId)
        external
        view
        returns (int256 equity, uint256 imr, uint256 mmr, uint256 health);
    /// @notice True when equity < MMR.
    function isLiquidatable(address owner, uint96 subId) external view returns (bool);
    /// @notice Everything needed to price a liquidation of (debtAsset, collateralAsset), in one pass.
    ///         Fields of an asset the account does not hold in that role are zero; an asset that is
    ///         not listed reverts AssetNotListed.
    function liquidationSnapshot(address owner, uint96 subId, address debtAsset, address collateralAsset)
        external
        view
        returns (LiquidationSnapshot memory snapshot);

    // ------------------------------------------------------------------ account actions
    /// @notice Adds `amount` of `asset` from the caller to (owner, subId): repays its debt in that
    ///         asset first (as `repay` does: a repayment that would leave dust reverts DustRemaining,
    ///         one below a scaled unit RepayTooSmall; only what it repays is pulled), the rest becomes
    ///         collateral. Works in any oracle state. Any caller may add to an asset the account
    ///         already holds or owes; only the owner or an operator may add an asset the account does
    ///         not hold yet (NotAuthorized).
    function deposit(address owner, uint96 subId, address asset, uint256 amount) external;
    /// @notice Repays up to `amount` (type(uint256).max = all) of the account's `asset` debt from the
    ///         caller. Allowed for any caller and any oracle state. A partial repayment burns whole
    ///         scaled units (floor(amount / index)) and pulls exactly the fall in the debt (at most
    ///         `amount`); below one scaled unit it reverts RepayTooSmall. It may not leave a debt worth
    ///         less than the asset's minDebtValue (DustRemaining; skipped when the price is unavailable).
    /// @return repaid Debt repaid, token units.
    function repay(address owner, uint96 subId, address asset, uint256 amount) external returns (uint256 repaid);
    /// @notice Sends `amount` of the account's `asset` collateral to `to`. Owner or operator; equity
    ///         must stay >= IMR (not checked, and no price read, when the account owes nothing).
    function withdraw(address owner, uint96 subId, address asset, uint256 amount, address to) external;
    /// @notice Borrows `amount` of `asset` from its vault to `to`. Owner or operator; equity must stay
    ///         >= IMR, and the account's debt in `asset` must be worth at least its minDebtValue
    ///         (DustRemaining). The account owes the smallest whole number of scaled units worth at
    ///         least its old debt plus `amount` (at most ceil(index) - 1 base units more).
    function borrow(address owner, uint96 subId, address asset, uint256 amount, address to) external;
    /// @notice Moves `amount` of `asset` collateral between two sub-accounts of `owner` (repaying
    ///         the destination's debt in that asset first, under `repay`'s rules). Owner or operator;
    ///         the source must stay >= IMR (unchecked when it owes nothing).
    function transfer(address owner, uint96 fromSubId, uint96 toSubId, address asset, uint256 amount) external;
    /// @notice Approves or revokes `operator` for all of the caller's sub-accounts.
    function setOperator(address operator, bool approved) external;


    // ------------------------------------------------------------------ Liquidator only
    /// @notice Liquidates one account: takes its snapshot, has the Liquidator (the engine) price it
    ///         with `ILiquidationEngine.price`, refuses any quote outside the protocol's own bounds
    ///         (account at or above maintenance; a discount above min(auction, health-preserving
    ///         discount); a tip beyond what tops that discount up to minDiscount; a payer paying more
    ///         than it receives at oracle prices, or the MarginAccount as payer; nothing repaid, or
    ///         more than maxRepay),
    ///         then reduces the debt and the collateral, sends the collateral to `o.liquidator`, calls
    ///         `ILiquidationCallback(o.liquidator).onLiquidation` when `data` is non-empty, and pulls
    ///         repay + insuranceFee - insuranceTip of the debt asset from `o.liquidator` into the vault.
    ///         If the account is left without collateral, all its debt is written off in the same call.
    /// @return repaid Debt repaid, debt-token units.
    /// @return seized Collateral sent, collateral-token units.
    function settleLiquidation(LiquidationOrder calldata o, bytes calldata data)
        external
        returns (uint256 repaid, uint256 seized);
    /// @notice Liquidates as much as allowed of each target in one (debt, collateral) pair for one
    ///         liquidator, in order, each priced on the state the previous ones left (so an account
    ///         listed twice is priced afresh the second time). Targets that cannot be liquidated, or
    ///         that would give less than `minSeizedPerRepaid` collateral units per debt unit (WAD),
    ///         are skipped (LiquidationSkipped). One collateral transfer, one repayment transfer and
    ///         one vault booking for the whole batch (plus one per account written off).
    /// @return repaidTotal Debt repaid, debt-token units.
    /// @return seizedTotal Collateral sent, collateral-token units.
    /// @return liquidated Number of targets liquidated.
    function settleLiquidationBatch(
        AccountId[] calldata targets,
        address liquidator_,
        address debtAsset,
        address collateralAsset,
        uint256 minSeizedPerRepaid
    ) external returns (uint256 repaidTotal, uint256 seizedTotal, uint256 liquidated);
    /// @notice Writes off every debt of an account that holds no collateral through the vaults'
    ///         bad-debt path (insurance fund first, then lenders).
    /// @return assetsWrittenOff Number of debt assets written off.
    function writeOffBadDebt(address owner, uint96 subId) external returns (uint256 assetsWrittenOff);
}
