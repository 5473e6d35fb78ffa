package payments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jisr-bus/jisr/adapters/kit"
	"github.com/jisr-bus/jisr/internal/clock"
	"github.com/jisr-bus/jisr/internal/store"
)

// Payment methods.
const (
	MethodCard    = "card"
	MethodBank    = "bank-account"
	MethodVoucher = "deposit-voucher"
)

// Decline reasons.
const (
	DeclineCard            = "card-declined"
	DeclineFunds           = "insufficient-funds"
	DeclineExpired         = "expired-card"
	DeclineUnknownVoucher  = "unknown-voucher"
	DeclineVoucherUsed     = "voucher-already-used"
	DeclineVoucherMismatch = "voucher-amount-mismatch"
)

// The simulated acquirer's documented test instruments.
const (
	// TestCardApproved is approved (any other Luhn-valid, unexpired number
	// is too).
	TestCardApproved = "4111111111111111"
	// TestCardDeclined is always declined with DeclineCard.
	TestCardDeclined = "4000000000000002"
	// TestCardNoFunds is always declined with DeclineFunds.
	TestCardNoFunds = "4000000000009995"
	// DeclinedIBANSuffix ends the IBANs whose debit is declined with
	// DeclineFunds.
	DeclinedIBANSuffix = "999"
)

// Card is a payment card as the payer entered it. It is held in memory for
// the charge and never stored.
type Card struct {
	Number      string
	ExpiryMonth int
	ExpiryYear  int
	CVV         string
}

// Charge is one request to move money for a payment order.
type Charge struct {
	// OrderID identifies the order; an acquirer charges each order once.
	OrderID string
	// Method is MethodCard, MethodBank or MethodVoucher, and exactly the
	// matching one of Card, IBAN and Voucher is set.
	Method  string
	Card    *Card
	IBAN    string
	Voucher string
	// Amount is what to charge.
	Amount kit.Money
	// Description is the masked instrument, which the acquirer may keep.
	Description string
}

// Outcome is an acquirer's answer.
type Outcome struct {
	Approved bool
	// Reason is the decline reason (empty when approved).
	Reason string
	// Fresh is true when this call charged (or declined) the order, false
	// when it returned the outcome of an earlier call for the same order.
	Fresh bool
}

// Acquirer moves money for payment orders.
//
// Charge must charge an order at most once: a second call for the same
// OrderID returns the first outcome with Fresh false and moves nothing. An
// error means the outcome is unknown; the caller may call again with the
// same charge (the order stays pending until then).
type Acquirer interface {
	Charge(ctx context.Context, ch Charge) (Outcome, error)
}

// SimulatedAcquirer is the demo world's acquirer and banks, keeping their
// record of charges in the payments database (table pma_charges, one row per
// order) and redeeming deposit vouchers there. Its rules: a card is
// declined when expired (by Clock, after the last day of its expiry month),
// when it is TestCardDeclined or TestCardNoFunds; a bank account is
// declined when its IBAN ends in DeclinedIBANSuffix; a voucher pays only
// its exact amount and currency, once. Everything else is approved.
type SimulatedAcquirer struct {
	DB    *kit.DB
	Clock clock.Clock
}

var _ Acquirer = (*SimulatedAcquirer)(nil)

// Charge implements Acquirer.
func (a *SimulatedAcquirer) Charge(ctx context.Context, ch Charge) (Outcome, error) {
	for attempt := 0; ; attempt++ {
		out, err := a.charge(ctx, ch)
		// Two calls for one order at once: the loser's insert hits the
		// primary key (its whole transaction, voucher included, is rolled
		// back) and the next round reads the winner's outcome.
		if err != nil && attempt == 0 && (store.ConstraintViolation(err) == store.Unique || store.IsRetryable(err)) {
			continue
		}
		return out, err
	}
}

func (a *SimulatedAcquirer) charge(ctx context.Context, ch Charge) (Outcome, error) {
	var out Outcome
	err := store.InTx(ctx, a.DB.SQL, nil, func(tx *sql.Tx) error {
		var approved bool
		var reason string
		err := tx.QueryRowContext(ctx, `SELECT approved, reason FROM pma_charges WHERE order_id = $1`, ch.OrderID).Scan(&approved, &reason)
		if err == nil {
			out = Outcome{Approved: approved, Reason: reason}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read charge: %w", err)
		}
		now := a.Clock.Now()
		reason, err = a.decide(ctx, tx, ch, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO pma_charges
			(order_id, method, instrument, amount_minor, currency, approved, reason, charged_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			ch.OrderID, ch.Method, ch.Description, ch.Amount.Minor, ch.Amount.Currency, reason == "", reason, store.Micros(now)); err != nil {
			return fmt.Errorf("record charge: %w", err)
		}
		out = Outcome{Approved: reason == "", Reason: reason, Fresh: true}
		return nil
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("simulated acquirer: %w", err)
	}
	return out, nil
}

// decide applies the simulation's rules and returns the decline reason, or
// "" to approve; a voucher is redeemed here, in the charge's transaction.
func (a *SimulatedAcquirer) decide(ctx context.Context, tx *sql.Tx, ch Charge, now time.Time) (string, error) {
	switch ch.Method {
	case MethodCard:
		if ch.Card == nil {
			return "", errors.New("card charge without a card")
		}
		if cardExpired(ch.Card, now) {
			return DeclineExpired, nil
		}
		switch ch.Card.Number {
		case TestCardDeclined:
			return DeclineCard, nil
		case TestCardNoFunds:
			return DeclineFunds, nil
		}
		return "", nil
	case MethodBank:
		if strings.HasSuffix(ch.IBAN, DeclinedIBANSuffix) {
			return DeclineFunds, nil
		}
		return "", nil
	case MethodVoucher:
		res, err := tx.ExecContext(ctx, `UPDATE pma_vouchers SET redeemed_by = $1, redeemed_at = $2
			WHERE number = $3 AND redeemed_by IS NULL AND amount_minor = $4 AND currency = $5`,
			ch.OrderID, store.Micros(now), ch.Voucher, ch.Amount.Minor, ch.Amount.Currency)
		if err != nil {
			return "", fmt.Errorf("redeem voucher: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return "", fmt.Errorf("redeem voucher: %w", err)
		} else if n == 1 {
			return "", nil
		}
		var redeemed sql.NullString
		err = tx.QueryRowContext(ctx, `SELECT redeemed_by FROM pma_vouchers WHERE number = $1`, ch.Voucher).Scan(&redeemed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return DeclineUnknownVoucher, nil
		case err != nil:
			return "", fmt.Errorf("read voucher: %w", err)
		case redeemed.Valid:
			return DeclineVoucherUsed, nil
		}
		return DeclineVoucherMismatch, nil
	}
	return "", fmt.Errorf("unknown payment method %q", ch.Method)
}

// cardExpired reports whether now is after the last day of the card's
// expiry month (UTC).
func cardExpired(c *Card, now time.Time) bool {
	end := time.Date(c.ExpiryYear, time.Month(c.ExpiryMonth)+1, 1, 0, 0, 0, 0, time.UTC)
	return !now.Before(end)
}
