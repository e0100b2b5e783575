//! The console's GraphQL operations, typed by `graphql_client` from the
//! committed `server/schema.graphql` and the documents in
//! `console/graphql/*.graphql`: a document that asks for a field the schema
//! lacks, or passes a variable of the wrong type, does not compile. Each
//! struct's module (`transaction::ResponseData`, …) holds its typed
//! variables and response.
//!
//! The schema's enums are the console's own ([`crate::schema`], checked
//! against the schema by a test), so every operation shares one `Direction`,
//! one `TransactionKind`, and so on.

use graphql_client::GraphQLQuery;

// Names the generated code looks up for the schema's scalars and enums.
#[allow(clippy::upper_case_acronyms)]
type JSON = crate::schema::Json;
use crate::schema::{
    BankDirection as BankDirectionType, DateTime, Direction as DirectionType, Layer as LayerType,
    LedgerItemKind as LedgerItemKindType, LineState as LineStateType, NaiveDate, PaymentState as PaymentStateType,
    PayoutMatchAction as PayoutMatchActionType, PayoutState as PayoutStateType, StaffRole,
    TransactionKind as TransactionKindType, Upload,
};

/// Declares one operation of a document in `console/graphql/`.
macro_rules! operation {
    ($(#[$doc:meta])* $name:ident, $file:tt) => {
        $(#[$doc])*
        #[derive(GraphQLQuery)]
        #[graphql(
            schema_path = "../server/schema.graphql",
            query_path = $file,
            response_derives = "Clone, Debug, PartialEq",
            variables_derives = "Clone, Debug",
            extern_enums(
                "DirectionType", "LayerType", "PaymentStateType", "PayoutStateType", "StaffRole", "TransactionKindType",
                "LineStateType", "BankDirectionType", "LedgerItemKindType", "PayoutMatchActionType"
            ),
            skip_serializing_none
        )]
        pub struct $name;
    };
}

operation!(/** `login`. */ Login, "graphql/session.graphql");
operation!(/** `logout`. */ Logout, "graphql/session.graphql");
operation!(/** `assets`. */ Assets, "graphql/session.graphql");
operation!(/** `merchants(search:)`. */ SearchMerchants, "graphql/merchants.graphql");
operation!(/** `merchant(id:)`: header and accounts. */ Merchant, "graphql/merchants.graphql");
operation!(/** `merchant(id:) { balances }`. */ MerchantBalances, "graphql/merchants.graphql");
operation!(/** `merchant(id:) { transactions }`. */ MerchantTransactions, "graphql/merchants.graphql");
operation!(/** `payments(merchantId:)`. */ MerchantPayments, "graphql/merchants.graphql");
operation!(/** `payouts(merchantId:)`. */ MerchantPayouts, "graphql/merchants.graphql");
operation!(/** `entries(accountId:)`. */ AccountEntries, "graphql/merchants.graphql");
operation!(/** `balanceUpdated(merchantId:)`. */ BalanceUpdated, "graphql/subscriptions.graphql");
operation!(/** `transaction(id:)`. */ Transaction, "graphql/transactions.graphql");
operation!(/** `reverseTransaction`. */ ReverseTransaction, "graphql/transactions.graphql");
operation!(/** `payment(id:)`. */ Payment, "graphql/payments.graphql");
operation!(/** `refundPayment`. */ RefundPayment, "graphql/payments.graphql");
operation!(/** `auditLog`. */ AuditLog, "graphql/audit.graphql");
operation!(/** `monthlyRollup`. */ MonthlyRollup, "graphql/reports.graphql");
operation!(/** `transactions(filter: {externalRef})`. */ FindByReference, "graphql/find.graphql");
operation!(/** `reverseTransaction(dryRun: true)`. */ ReverseDryRun, "graphql/dry_run.graphql");
operation!(/** `refundPayment(dryRun: true)`. */ RefundDryRun, "graphql/dry_run.graphql");
operation!(/** `createPayout(dryRun: true)`. */ PayoutDryRun, "graphql/dry_run.graphql");
operation!(/** `resolveDispute(dryRun: true)`. */ ResolveDisputeDryRun, "graphql/dry_run.graphql");
operation!(/** `resolveDispute`. */ ResolveDispute, "graphql/payments.graphql");
operation!(/** `createPayout`. */ CreatePayout, "graphql/payments.graphql");
operation!(/** `bankAccounts`. */ BankAccounts, "graphql/reconciliation.graphql");
operation!(/** `bankStatements(bankAccountId:)`. */ BankStatements, "graphql/reconciliation.graphql");
operation!(/** `bankStatementLines(bankAccountId:)`: the exception queue and the lines. */ BankStatementLines, "graphql/reconciliation.graphql");
operation!(/** `unconfirmedLedgerItems(bankAccountId:)`. */ UnconfirmedLedgerItems, "graphql/reconciliation.graphql");
operation!(/** `reconciliationReport(bankAccountId:)`. */ ReconciliationReport, "graphql/reconciliation.graphql");
operation!(
    /** `importBankStatement`: only its response is used, to read the answer of `POST /reconcile/bank_statement`. */
    ImportBankStatement,
    "graphql/reconciliation.graphql"
);
operation!(/** `matchBankStatementLines`, dry run or real. */ MatchBankStatementLines, "graphql/reconciliation.graphql");
operation!(/** `matchBankStatementLine`: a line to a payout by hand. */ MatchBankStatementLine, "graphql/reconciliation.graphql");
operation!(/** `matchBankDeposit`: credit lines to captures by hand. */ MatchBankDeposit, "graphql/reconciliation.graphql");
operation!(/** `unmatchBankStatementLine`. */ UnmatchBankStatementLine, "graphql/reconciliation.graphql");
operation!(/** `writeOffBankStatementLine`. */ WriteOffBankStatementLine, "graphql/reconciliation.graphql");
