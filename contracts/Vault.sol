// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20, IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {IVault} from "../interfaces/IVault.sol";
import {WAD, SECONDS_PER_YEAR} from "./libraries/Constants.sol";
import {MathLib} from "./libraries/MathLib.sol";

/// @title Vault
/// @notice ERC-4626 lending vault for one asset. Lenders deposit and earn the interest the
///         MarginAccount's borrowers pay; a reserve factor of that interest builds an insurance fund
///         that absorbs bad debt before lenders do.
/// @dev Accounting is internal (`cash`, `totalBorrows`, `insuranceFund`), so tokens sent to the vault
///      directly never move the share price. Together with OpenZeppelin's virtual shares
///      (`_decimalsOffset`), this defeats the first-depositor inflation attack.
///      totalAssets = cash + totalBorrows - insuranceFund.
contract Vault is IVault, ERC4626, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using MathLib for uint256;

    /// @notice Role allowed to change the rate model and the reserve factor.
    bytes32 public constant RISK_ADMIN_ROLE = keccak256("RISK_ADMIN_ROLE");
    /// @notice Virtual share decimals: 10**6 virtual shares per asset unit make a donation attack
    ///         cost the attacker about a million times what it steals.
    uint8 public constant DECIMALS_OFFSET = 6;
    /// @notice Upper bound of the reserve factor (share of interest sent to the insurance fund), WAD.
    uint256 public constant MAX_RESERVE_FACTOR = 0.5e18; // 50%
    /// @notice Upper bound of the borrow rate at 100% utilization, WAD per year.
    uint256 public constant MAX_BORROW_RATE = 10e18; // 1000% a year
    /// @notice Highest borrow index, WAD (the packed uint96): interest stops there instead of
    ///         overflowing. At MAX_BORROW_RATE, full utilization and an accrual every second the index
    ///         grows about e^10 a year, so this is at least 2.5 years of that away.
    uint256 public constant MAX_BORROW_INDEX = type(uint96).max;
    /// @notice Most assets the books (cash + total borrows) take from deposits and from interest,
    ///         token units: half the packed uint128, so repayments, fees and rounding always fit.
    uint256 public constant MAX_TOTAL_ASSETS = type(uint128).max / 2;

    /// @inheritdoc IVault
    address public immutable marginAccount;

    /// @dev Packed accounting: two storage slots, read together on every action.
    struct State {
        uint128 cash; // idle assets held, insurance included
        uint128 totalBorrows; // assets owed by the MarginAccount, interest included
        uint128 insurance; // insurance fund: a claim on cash + borrows, not the lenders'
        uint96 index; // borrow index, WAD, starts at 1e18
        uint32 lastAccrual; // timestamp of the last accrual
    }

    State internal _state;
    RateModel internal _rateModel;
    /// @notice Share of accrued interest added to the insurance fund, WAD.
    uint256 public reserveFactor;

    modifier onlyMarginAccount() {
        if (msg.sender != marginAccount) revert NotMarginAccount(msg.sender);
        _;
    }

    /// @param asset_ The lent token.
    /// @param name_ Share token name.
    /// @param symbol_ Share token symbol.
    /// @param marginAccount_ The only borrower.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and RISK_ADMIN_ROLE.
    /// @param rateModel_ Kinked utilization rate model (WAD per year).
    /// @param reserveFactor_ Share of interest to the insurance fund, WAD.
    constructor(
        IERC20Metadata asset_,
        string memory name_,
        string memory symbol_,
        address marginAccount_,
        address admin,
        RateModel memory rateModel_,
        uint256 reserveFactor_
    ) ERC20(name_, symbol_) ERC4626(asset_) {
        if (marginAccount_ == address(0) || admin == address(0)) revert ZeroAddress();
        marginAccount = marginAccount_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(RISK_ADMIN_ROLE, admin);
        _state.index = uint96(WAD); // constant, fits
        _state.lastAccrual = block.timestamp.toUint32();
        _setRateModel(rateModel_);
        _setReserveFactor(reserveFactor_);
    }

    // ================================================================== admin

    /// @notice Sets the kinked rate model (accrues first at the old rates).
    /// @param rateModel_ base, slope1, slope2 (WAD per year) and kink (utilization, WAD).
    function setRateModel(RateModel calldata rateModel_) external onlyRole(RISK_ADMIN_ROLE) {
        _accrue();
        _setRateModel(rateModel_);
    }

    /// @notice Sets the reserve factor (accrues first at the old factor).
    /// @param reserveFactor_ Share of interest to the insurance fund, WAD, at most MAX_RESERVE_FACTOR.
    function setReserveFactor(uint256 reserveFactor_) external onlyRole(RISK_ADMIN_ROLE) {
        _accrue();
        _setReserveFactor(reserveFactor_);
    }

    /// @notice Withdraws `assets` from the insurance fund to `to` (for example to recapitalise
    ///         another vault). Limited by the fund and by idle cash.
    /// @param assets Amount, token units.
    /// @param to Receiver.
    function withdrawInsurance(uint256 assets, address to) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (assets == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        State memory s = _accrue();
        uint256 available = Math.min(s.insurance, s.cash);
        if (assets > available) revert InsufficientInsurance(available, assets);
        s.insurance -= assets.toUint128();
        s.cash -= assets.toUint128();
        _state = s;
        emit InsuranceWithdrawn(to, assets, s.insurance);
        IERC20(asset()).safeTransfer(to, assets);
    }

    /// @inheritdoc IVault
    function skim(address to) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant returns (uint256 assets) {
        if (to == address(0)) revert ZeroAddress();
        assets = IERC20(asset()).balanceOf(address(this)) - _state.cash;
        if (assets == 0) revert ZeroAmount();
        emit Skimmed(to, assets);
        IERC20(asset()).safeTransfer(to, assets);
    }

    // ================================================================== views

    /// @inheritdoc IVault
    function rateModel() external view returns (RateModel memory) {
        return _rateModel;
    }

    /// @inheritdoc IVault
    function cash() external view returns (uint256) {
        return _state.cash;
    }

    /// @inheritdoc IVault
    function totalBorrows() external view returns (uint256) {
        (State memory s,,) = _accrued();
        return s.totalBorrows;
    }

    /// @inheritdoc IVault
    function insuranceFund() external view returns (uint256) {
        (State memory s,,) = _accrued();
        return s.insurance;
    }

    /// @inheritdoc IVault
    function borrowIndex() external view returns (uint256) {
        (State memory s,,) = _accrued();
        return s.index;
    }

    /// @inheritdoc IVault
    function utilization() external view returns (uint256) {
        (State memory s,,) = _accrued();
        return _utilization(s.cash, s.totalBorrows);
    }

    /// @inheritdoc IVault
    function borrowRatePerSecond() external view returns (uint256) {
        (State memory s,,) = _accrued();
        return _ratePerSecond(_utilization(s.cash, s.totalBorrows));
    }

    /// @notice Lenders' assets: cash + borrows - insurance fund, interest accrued up to now.
    function totalAssets() public view override(ERC4626, IERC4626) returns (uint256) {
        (State memory s,,) = _accrued();
        return _lenderAssets(s);
    }

    /// @notice What `owner` can withdraw now: its assets, capped by idle cash.
    function maxWithdraw(address owner) public view override(ERC4626, IERC4626) returns (uint256) {
        return Math.min(super.maxWithdraw(owner), _state.cash);
    }

    /// @notice What `owner` can redeem now: its shares, capped by the shares idle cash buys back.
    function maxRedeem(address owner) public view override(ERC4626, IERC4626) returns (uint256) {
        return Math.min(super.maxRedeem(owner), _convertToShares(_state.cash, Math.Rounding.Floor));
    }

    /// @notice What can be deposited now: the room left under MAX_TOTAL_ASSETS in the books (read
    ///         before accrual: interest since then only lands in the headroom above that bound).
    function maxDeposit(address) public view override(ERC4626, IERC4626) returns (uint256) {
        State memory s = _state;
        uint256 books = uint256(s.cash) + s.totalBorrows;
        return books >= MAX_TOTAL_ASSETS ? 0 : MAX_TOTAL_ASSETS - books;
    }

    /// @notice Shares that can be minted now: those `maxDeposit` buys (rounded down).
    function maxMint(address receiver) public view override(ERC4626, IERC4626) returns (uint256) {
        return _convertToShares(maxDeposit(receiver), Math.Rounding.Floor);
    }

    // ================================================================== lender actions

    /// @inheritdoc IERC4626
    function deposit(uint256 assets, address receiver) public override(ERC4626, IERC4626) nonReentrant returns (uint256) {
        return super.deposit(assets, receiver);
    }

    /// @inheritdoc IERC4626
    function mint(uint256 shares, address receiver) public override(ERC4626, IERC4626) nonReentrant returns (uint256) {
        return super.mint(shares, receiver);
    }

    /// @inheritdoc IERC4626
    function withdraw(uint256 assets, address receiver, address owner)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        returns (uint256)
    {
        return super.withdraw(assets, receiver, owner);
    }

    /// @inheritdoc IERC4626
    function redeem(uint256 shares, address receiver, address owner)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        returns (uint256)
    {
        return super.redeem(shares, receiver, owner);
    }

    /// @inheritdoc IVault
    function fundInsurance(uint256 assets) external nonReentrant {
        if (assets == 0) revert ZeroAmount();
        State memory s = _accrue();
        uint256 total = uint256(s.cash) + s.totalBorrows + assets;
        if (total > MAX_TOTAL_ASSETS) revert AboveMaxTotalAssets(total, MAX_TOTAL_ASSETS);
        s.cash = (s.cash + assets).toUint128();
        s.insurance = (s.insurance + assets).toUint128();
        _state = s;
        emit InsuranceFunded(msg.sender, assets, s.insurance);
        IERC20(asset()).safeTransferFrom(msg.sender, address(this), assets);
    }

    // ================================================================== MarginAccount only

    /// @inheritdoc IVault
    function accrueInterest() external returns (uint256 index, uint256 borrows) {
        State memory s = _accrue();
        return (s.index, s.totalBorrows);
    }

    /// @inheritdoc IVault
    function borrow(uint256 assets, address receiver) external onlyMarginAccount nonReentrant returns (uint256 index) {
        State memory s = _accrue();
        if (assets > s.cash) revert InsufficientCash(s.cash, assets);
        s.cash -= assets.toUint128();
        s.totalBorrows += assets.toUint128();
        _state = s;
        emit Borrowed(receiver, assets, s.totalBorrows);
        IERC20(asset()).safeTransfer(receiver, assets);
        return s.index;
    }

    /// @inheritdoc IVault
    /// @dev The MarginAccount transfers the tokens in the same transaction. Per-account debts round
    ///      up and total borrows round down, so the last repayment can exceed totalBorrows by a few
    ///      wei: the excess stays in cash (the lenders').
    function repay(uint256 assets) external onlyMarginAccount {
        State memory s = _accrue();
        s.cash = (s.cash + assets).toUint128();
        s.totalBorrows -= Math.min(assets, s.totalBorrows).toUint128();
        _state = s;
        emit Repaid(assets, s.totalBorrows);
    }

    /// @inheritdoc IVault
    function indexAndInsurance() external view returns (uint256 index, uint256 insurance) {
        (State memory s,,) = _accrued();
        return (s.index, s.insurance);
    }

    /// @inheritdoc IVault
    /// @dev Same books as `repay`, plus the fee into cash and the insurance fund and the tip out of
    ///      both, in one call.
    function repayLiquidation(uint256 assets, uint256 insuranceFee, uint256 insuranceTip, address payer)
        external
        onlyMarginAccount
    {
        State memory s = _accrue();
        uint256 fund = s.insurance + insuranceFee;
        if (insuranceTip > fund) revert InsufficientInsurance(fund, insuranceTip);
        s.cash = (s.cash + assets + insuranceFee - insuranceTip).toUint128();
        s.totalBorrows -= Math.min(assets, s.totalBorrows).toUint128();
        s.insurance = (fund - insuranceTip).toUint128();
        _state = s;
        emit LiquidationRepaid(payer, assets, insuranceFee, insuranceTip, s.totalBorrows, s.insurance);
    }

    /// @inheritdoc IVault
    function realizeBadDebt(uint256 assets)
        external
        onlyMarginAccount
        returns (uint256 covered, uint256 socialized)
    {
        State memory s = _accrue();
        uint256 amount = Math.min(assets, s.totalBorrows);
        covered = Math.min(amount, s.insurance);
        socialized = amount - covered;
        s.totalBorrows -= amount.toUint128();
        s.insurance -= covered.toUint128();
        _state = s;
        emit BadDebtRealized(amount, covered, socialized);
    }

    // ================================================================== internal

    /// @dev Shares carry 6 more decimals than the asset (virtual shares; see contract notes).
    function _decimalsOffset() internal pure override returns (uint8) {
        return DECIMALS_OFFSET;
    }

    /// @dev Accrue before the share mint so stored state matches the totalAssets() used to price it.
    function _deposit(address caller, address receiver, uint256 assets, uint256 shares) internal override {
        State memory s = _accrue();
        s.cash = (s.cash + assets).toUint128(); // maxDeposit keeps the books under MAX_TOTAL_ASSETS
        _state = s;
        super._deposit(caller, receiver, assets, shares);
    }

    /// @dev Lenders can only take idle cash; the rest is lent out.
    function _withdraw(address caller, address receiver, address owner, uint256 assets, uint256 shares)
        internal
        override
    {
        State memory s = _accrue();
        if (assets > s.cash) revert InsufficientCash(s.cash, assets);
        s.cash -= assets.toUint128();
        _state = s;
        super._withdraw(caller, receiver, owner, assets, shares);
    }

    /// @dev Brings stored state up to this block, emits InterestAccrued when interest was added.
    function _accrue() internal returns (State memory s) {
        uint256 interest;
        uint256 toInsurance;
        (s, interest, toInsurance) = _accrued();
        if (s.lastAccrual == _state.lastAccrual) return s; // already accrued this block
        _state = s;
        if (interest > 0) emit InterestAccrued(interest, toInsurance, s.index, s.totalBorrows);
        if (s.index == MAX_BORROW_INDEX) emit BorrowIndexCapped(s.index);
    }

    /// @dev State as if accrued now, without writing it. Borrowers' index grows by rate*dt rounded up
    ///      and total borrows by rate*dt rounded down, so borrowers never owe less than the books say.
    function _accrued() internal view returns (State memory s, uint256 interest, uint256 toInsurance) {
        s = _state;
        uint256 elapsed = block.timestamp - s.lastAccrual;
        if (elapsed == 0) return (s, 0, 0);
        s.lastAccrual = block.timestamp.toUint32(); // fits until the year 2106
        if (s.totalBorrows == 0) return (s, 0, 0);
        uint256 growth = _ratePerSecond(_utilization(s.cash, s.totalBorrows)) * elapsed; // WAD
        // Bounded: the index stops at MAX_BORROW_INDEX and the books at MAX_TOTAL_ASSETS, so accrual
        // (and every action that runs it) can never revert on overflow. Index and borrows grow by the
        // same factor, so they stay in step.
        uint256 index = s.index;
        uint256 borrows = s.totalBorrows;
        uint256 indexGrowth = index.mulDivUp(growth, WAD);
        interest = borrows.mulDivDown(growth, WAD);
        if (index + indexGrowth > MAX_BORROW_INDEX) {
            indexGrowth = MAX_BORROW_INDEX - index; // the index stops at its cap
            interest = borrows.mulDivDown(indexGrowth, index); // the same factor, rounded down
        }
        uint256 books = uint256(s.cash) + borrows;
        if (books + interest > MAX_TOTAL_ASSETS) {
            interest = books >= MAX_TOTAL_ASSETS ? 0 : MAX_TOTAL_ASSETS - books;
            indexGrowth = indexGrowth.min(index.mulDivUp(interest, borrows));
        }
        toInsurance = interest.mulDivDown(reserveFactor, WAD);
        s.totalBorrows = (borrows + interest).toUint128();
        s.insurance += toInsurance.toUint128();
        s.index = (index + indexGrowth).toUint96();
    }

    function _lenderAssets(State memory s) internal pure returns (uint256) {
        uint256 gross = uint256(s.cash) + s.totalBorrows;
        return gross > s.insurance ? gross - s.insurance : 0;
    }

    /// @dev borrows / (cash + borrows), WAD; 0 for an empty vault.
    function _utilization(uint256 cash_, uint256 borrows) internal pure returns (uint256) {
        uint256 total = cash_ + borrows;
        return total == 0 ? 0 : borrows.mulDivDown(WAD, total);
    }

    /// @dev Kinked model: base + slope1 * u / kink below the kink,
    ///      base + slope1 + slope2 * (u - kink) / (1 - kink) above it. Per year -> per second, rounded up.
    function _ratePerSecond(uint256 util) internal view returns (uint256) {
        RateModel memory m = _rateModel;
        uint256 annual;
        if (util <= m.kink) {
            annual = m.baseRate + uint256(m.slope1).mulDivUp(util, m.kink);
        } else {
            annual = m.baseRate + m.slope1 + uint256(m.slope2).mulDivUp(util - m.kink, WAD - m.kink);
        }
        return annual.mulDivUp(1, SECONDS_PER_YEAR);
    }

    function _setRateModel(RateModel memory m) internal {
        if (m.kink == 0 || m.kink >= WAD || uint256(m.baseRate) + m.slope1 + m.slope2 > MAX_BORROW_RATE) {
            revert InvalidRateModel();
        }
        _rateModel = m;
        emit RateModelSet(m.baseRate, m.slope1, m.slope2, m.kink);
    }

    function _setReserveFactor(uint256 reserveFactor_) internal {
        if (reserveFactor_ > MAX_RESERVE_FACTOR) revert InvalidReserveFactor(reserveFactor_);
        reserveFactor = reserveFactor_;
        emit ReserveFactorSet(reserveFactor_);
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}
