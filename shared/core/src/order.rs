//! The order aggregate: the whole life of one order in one place.
//!
//! Read it top to bottom:
//!
//! 1. [`Order`], the order as it is, with private fields. The only ways to
//!    get one are [`Order::place`] (a new order), [`Order::restore`] (from
//!    storage, checked) and a [`Decision`]; each keeps the invariants of
//!    [`check`] — a station exactly from allocation on, a rider exactly while
//!    one is assigned, an acceptance deadline exactly while one runs.
//! 2. [`SAGA`], the forward steps with the compensation that undoes each,
//!    and [`compensations`], what to undo from a given state.
//! 3. [`Input`], everything that can happen to an order (saga events,
//!    rider commands, cancellation, a dead letter), and [`Facts`], the data
//!    the caller loaded for it.
//! 4. [`decide`], pure: `(order, input, facts, stamp, config) → Decision`.
//!    A [`Decision`] is the order after the change plus a list of typed
//!    [`Effect`]s (reserve stock, assign rider, issue waybill, void it,
//!    emit an event, schedule a deadline, …) that the store turns into one
//!    atomic SQL batch. A command that is not allowed now is a [`Refusal`].
//!
//! The state transitions themselves are the table in [`crate::state`]; the
//! station and rider choice is [`crate::matching`]. Nothing here reads a
//! clock or makes an id: the caller's [`Stamp`] carries the time and one
//! fresh unique id from which every id a decision needs is derived.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::config::Config;
use crate::event::{Deadline, Envelope, EventType, Payload};
use crate::geo::GeoPoint;
use crate::matching::{
    Conditions, Rejection, RiderCandidate, StationCandidate, TrafficFactor, choose, night_rule_allows, rank_riders,
};
use crate::signature::WaybillSigner;
use crate::state::{OrderEvent, OrderState, next_state};
use crate::time::rfc3339;
use crate::types::{
    Address, CylinderSpec, Invalid, Items, Note, OrderId, PersonName, Phone, RiderId, StationId, TraceCode,
};
use crate::waybill::{Consignee, FORMAT_V1, VOID_FORMAT_V1, VoidRecord, Waybill, WaybillRider, WaybillStation};

// ---------------------------------------------------------------------------
// 1. The order
// ---------------------------------------------------------------------------

/// Who receives the order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub name: PersonName,
    pub phone: Phone,
    pub address: Address,
    pub location: GeoPoint,
}

/// Why an order was rejected, failed or cancelled, or why its waybill was
/// voided. Stored and served as its wire text ([`Reason::parse`] reads it back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Matching found no station, or no rider after its retries.
    Rejected(Rejection),
    /// The assigned rider did not accept in time (a waybill's void reason).
    RiderTimeout,
    /// The assigned rider declined the task (a waybill's void reason).
    RiderDeclined,
    /// The rider accepted and did not load in time (a waybill's void reason).
    PickupMissed,
    /// The dispatch desk reassigned the order (a waybill's void reason).
    Reassigned,
    /// Too many riders timed out on this order.
    RiderTimeoutLimit,
    /// No usable signing key.
    SigningFailed,
    /// A live event was given up on (the queue's or the sweeper's dead letter).
    DeadLetter(EventType),
    /// A step met something retrying will not fix (a station or rider row gone).
    Terminal(String),
    /// The customer (or ops) cancelled without saying why.
    CancelledByCustomer,
    /// The customer cancelled and said why.
    Cancelled(Note),
}

impl Reason {
    /// Reads the wire text back.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let fixed = [
            Reason::RiderTimeout,
            Reason::RiderDeclined,
            Reason::PickupMissed,
            Reason::Reassigned,
            Reason::RiderTimeoutLimit,
            Reason::SigningFailed,
            Reason::CancelledByCustomer,
        ];
        if let Some(r) = fixed.into_iter().find(|r| r.to_string() == text) {
            return Ok(r);
        }
        let rejections = [
            Rejection::OutOfArea,
            Rejection::StationsSuspended,
            Rejection::NoStock,
            Rejection::NightSafety,
            Rejection::NoRider,
        ];
        if let Some(r) = rejections.into_iter().find(|r| r.as_str() == text) {
            return Ok(Reason::Rejected(r));
        }
        if let Some(topic) = text.strip_prefix("dead_letter: ") {
            let kind = EventType::from_topic(topic).ok_or_else(|| Invalid::new("reason", "unknown topic"))?;
            return Ok(Reason::DeadLetter(kind));
        }
        if let Some(why) = text.strip_prefix("terminal: ") {
            return Ok(Reason::Terminal(why.to_owned()));
        }
        if let Some(note) = text.strip_prefix("cancelled: ") {
            return Ok(Reason::Cancelled(Note::parse(note)?));
        }
        Err(Invalid::new("reason", format!("unknown reason {text:?}")))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Rejected(r) => f.write_str(r.as_str()),
            Reason::RiderTimeout => f.write_str("rider_timeout"),
            Reason::RiderDeclined => f.write_str("rider_declined"),
            Reason::PickupMissed => f.write_str("pickup_missed"),
            Reason::Reassigned => f.write_str("reassigned"),
            Reason::RiderTimeoutLimit => f.write_str("rider_timeout_limit"),
            Reason::SigningFailed => f.write_str("signing_failed"),
            Reason::DeadLetter(kind) => write!(f, "dead_letter: {}", kind.topic()),
            Reason::Terminal(why) => write!(f, "terminal: {why}"),
            Reason::CancelledByCustomer => f.write_str("cancelled_by_customer"),
            Reason::Cancelled(note) => write!(f, "cancelled: {note}"),
        }
    }
}

impl Reason {
    /// The reason without words a person wrote (a cancellation's own
    /// reason, which may name anyone): what an archive with no personal
    /// data keeps.
    pub fn without_free_text(&self) -> String {
        match self {
            Reason::Cancelled(_) => "cancelled".to_owned(),
            other => other.to_string(),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Every field of an order, as stored. Read-only through [`Order`]; built
/// by the store only to [`Order::restore`] a row.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderFields {
    pub id: OrderId,
    pub state: OrderState,
    /// Bumped by every transition; the store's optimistic-concurrency check
    /// and the `seq` of the events a change emits.
    pub version: i64,
    /// The app client that placed it (the subject of its token).
    pub client: String,
    pub customer: Customer,
    pub items: Items,
    pub note: Option<Note>,
    /// W3C trace context of the request that placed it.
    pub traceparent: String,
    pub station_id: Option<StationId>,
    pub rider_id: Option<RiderId>,
    pub waybill_id: Option<String>,
    /// How many riders have been assigned so far (the current assignment number).
    pub assignment: u32,
    pub rider_timeouts: u32,
    /// Riders that timed out on (or declined) this order; never asked again.
    pub excluded_riders: Vec<RiderId>,
    pub accept_deadline: Option<Millis>,
    /// When the rider must have loaded the cylinders (`accepted`) or handed
    /// them over (`picked_up`); exactly in those two states. Past it in
    /// `picked_up`, the order is overdue.
    pub due_by: Option<Millis>,
    pub reason: Option<Reason>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// An order. Its fields are read through `Deref` ([`OrderFields`]) and
/// changed only by [`decide`], so every order in the system satisfies
/// [`check`].
#[derive(Debug, Clone, PartialEq)]
pub struct Order(OrderFields);

impl std::ops::Deref for Order {
    type Target = OrderFields;

    fn deref(&self) -> &OrderFields {
        &self.0
    }
}

/// What the app sends to place an order, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    pub client: String,
    pub customer: Customer,
    pub items: Items,
    pub note: Option<Note>,
    pub traceparent: String,
}

/// The invariants every stored order satisfies: which references each state
/// holds. A station from allocation on; a rider while assigned and after
/// (terminal states keep what they had, for the record); a waybill from
/// signing on; an acceptance deadline exactly while one runs, and a pickup
/// or delivery deadline (`due_by`) exactly in `accepted` and `picked_up`; a
/// reason on every rejected, cancelled or failed order.
pub fn check(o: &OrderFields) -> Result<(), Invalid> {
    use OrderState as S;
    let has = (
        o.station_id.is_some(),
        o.rider_id.is_some(),
        o.waybill_id.is_some(),
        o.accept_deadline.is_some(),
    );
    let ok = match o.state {
        S::Received => has == (false, false, false, false),
        S::SourceAllocated => has == (true, false, false, false),
        S::RiderAssigned => has == (true, true, false, true),
        S::WaybillSigned => has == (true, true, true, true),
        S::Accepted | S::PickedUp | S::Delivered => has == (true, true, true, false),
        S::Rejected | S::Cancelled | S::Failed => !has.3 && o.reason.is_some(),
    } && o.due_by.is_some() == matches!(o.state, S::Accepted | S::PickedUp);
    if !ok {
        return Err(Invalid::new(
            "order",
            format!(
                "a {} order cannot have station={} rider={} waybill={} deadline={}",
                o.state.as_str(),
                has.0,
                has.1,
                has.2,
                has.3
            ),
        ));
    }
    if o.version < 1 {
        return Err(Invalid::new("order", "version starts at 1"));
    }
    Ok(())
}

impl Order {
    /// Rebuilds a stored order, refusing one that breaks [`check`].
    pub fn restore(fields: OrderFields) -> Result<Self, Invalid> {
        check(&fields)?;
        Ok(Self(fields))
    }

    /// A new order in `received`, with its `order.created` event.
    pub fn place(new: NewOrder, id: OrderId, at: &Stamp<'_>) -> Decision {
        let order = OrderFields {
            id,
            state: OrderState::Received,
            version: 1,
            client: new.client,
            customer: new.customer,
            items: new.items,
            note: new.note,
            traceparent: new.traceparent,
            station_id: None,
            rider_id: None,
            waybill_id: None,
            assignment: 0,
            rider_timeouts: 0,
            excluded_riders: Vec::new(),
            accept_deadline: None,
            due_by: None,
            reason: None,
            created_at: at.now,
            updated_at: at.now,
        };
        let mut draft = Draft::new(order, 0, at);
        draft.effects.push(Effect::Timeline {
            seq: 1,
            state: OrderState::Received,
            detail: None,
            actor: at.actor.map(str::to_owned),
        });
        let payload = Payload {
            location: Some(draft.order.customer.location),
            ..Payload::default()
        };
        draft.emit(EventType::OrderCreated, payload);
        draft.finish(Outcome::Placed)
    }

    /// Is `event` still about the order as it is now? Only live events act;
    /// anything else is a duplicate, a stale deadline or out of order, and
    /// is acknowledged and dropped. A dead letter fails the order only if
    /// its event was live.
    pub fn is_live(&self, event: &Envelope) -> bool {
        use EventType as T;
        use OrderState as S;
        let same_version = i64::try_from(event.seq).ok() == Some(self.version);
        let same_assignment = event.payload.assignment == Some(self.assignment);
        match event.kind {
            T::OrderCreated => self.state == S::Received,
            T::MatchRetry => self.state == S::SourceAllocated && same_version,
            T::RiderAssigned => self.state == S::RiderAssigned && same_assignment,
            T::RiderTimedOut => {
                let state = match event.payload.deadline.unwrap_or(Deadline::Accept) {
                    Deadline::Accept => matches!(self.state, S::RiderAssigned | S::WaybillSigned),
                    Deadline::Pickup => self.state == S::Accepted,
                    Deadline::Delivery => self.state == S::PickedUp,
                };
                state && same_assignment
            }
            // Notifications and the void record never hold an order up.
            _ => false,
        }
    }

    /// Is `rider` on this order now ([`rider_is_on`]): the one who may read
    /// it and its waybill, and act on it?
    pub fn is_assigned_to(&self, rider: &str) -> bool {
        rider_is_on(self.state, self.rider_id.as_ref().map(RiderId::as_str), rider)
    }
}

/// The one rule of what a rider sees: a rider is on an order, and may read
/// it, read its waybill with the customer's details, and act on it, while
/// the order is assigned to that rider and not over. A rider released (by
/// an acceptance timeout or a cancellation) or done (delivered) is not on
/// it any more; a terminal order keeps its rider for the record only.
pub fn rider_is_on(state: OrderState, assigned: Option<&str>, rider: &str) -> bool {
    !state.is_terminal() && assigned == Some(rider)
}

// ---------------------------------------------------------------------------
// 2. The saga: forward steps and their compensations
// ---------------------------------------------------------------------------

/// A forward step of the saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Pre-lock stock at the chosen station (matching, `order.created`).
    ReserveStock,
    /// Assign the chosen rider (matching).
    AssignRider,
    /// Sign the e-waybill and put it in the rider's inbox (signing, `rider.assigned`).
    SignWaybill,
}

/// The action that undoes a [`Step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compensation {
    /// Return the pre-locked cylinders to the station's available stock.
    ReleaseStock,
    /// Make the rider available again and stop the acceptance deadline.
    FreeRider,
    /// Mark the waybill void; signing then issues a signed void record.
    VoidWaybill,
}

/// Steps in the order they run, each with its compensation and the
/// transition that records it.
pub const SAGA: [(Step, Compensation, OrderEvent); 3] = [
    (
        Step::ReserveStock,
        Compensation::ReleaseStock,
        OrderEvent::SourceAllocated,
    ),
    (Step::AssignRider, Compensation::FreeRider, OrderEvent::RiderAssigned),
    (Step::SignWaybill, Compensation::VoidWaybill, OrderEvent::WaybillSigned),
];

/// The steps an order in `state` has completed and not undone.
pub fn completed_steps(state: OrderState) -> &'static [Step] {
    const ALL: [Step; 3] = [Step::ReserveStock, Step::AssignRider, Step::SignWaybill];
    match state {
        OrderState::Received => &[],
        OrderState::SourceAllocated => &ALL[..1],
        OrderState::RiderAssigned => &ALL[..2],
        OrderState::WaybillSigned | OrderState::Accepted => &ALL,
        // After pickup the stock is settled and nothing can be undone; terminal
        // states have already been compensated.
        OrderState::PickedUp
        | OrderState::Delivered
        | OrderState::Rejected
        | OrderState::Cancelled
        | OrderState::Failed => &[],
    }
}

/// The compensation for one step.
pub fn compensation_of(step: Step) -> Compensation {
    SAGA.iter()
        .find(|(s, _, _)| *s == step)
        .map(|(_, c, _)| *c)
        .expect("every step has a compensation")
}

/// What to run, in order, to undo everything an order in `state` has done:
/// the completed steps' compensations, newest first.
pub fn compensations(state: OrderState) -> Vec<Compensation> {
    completed_steps(state)
        .iter()
        .rev()
        .map(|s| compensation_of(*s))
        .collect()
}

/// What to undo when the assigned rider drops out (timeout, decline): the
/// rider's part, keeping the stock locked for the next rider.
pub fn rider_dropout_compensations(state: OrderState) -> Vec<Compensation> {
    compensations(state)
        .into_iter()
        .filter(|c| *c != Compensation::ReleaseStock)
        .collect()
}

// ---------------------------------------------------------------------------
// 3. Inputs, facts, effects, decisions
// ---------------------------------------------------------------------------

/// One cylinder loaded at pickup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cylinder {
    pub spec: CylinderSpec,
    pub trace_code: TraceCode,
}

/// Everything that can happen to an order.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// `order.created`: find a station and a rider (facts: stations near
    /// the customer, riders near them).
    Created(&'a Envelope),
    /// `match.retry`: still no rider at the order's station (facts: that
    /// station, riders near it).
    MatchRetry(&'a Envelope),
    /// `rider.timed_out`: the acceptance, pickup or delivery deadline the
    /// payload names passed (facts as for a retry).
    RiderDeadline(&'a Envelope),
    /// `rider.assigned`: sign the waybill with `signer`, or say why there is
    /// no usable key (facts: the order's station and rider).
    Sign {
        event: &'a Envelope,
        signer: Result<&'a WaybillSigner, &'a str>,
    },
    /// The assigned rider takes the task.
    Accept { rider: &'a str },
    /// The assigned rider turns the task down, before loading (no facts:
    /// the search goes back to matching).
    Decline { rider: &'a str },
    /// The rider loaded these cylinders (facts: the order's station, for
    /// the night rule; without it the station counts as unmonitored).
    Pickup { rider: &'a str, cylinders: &'a [Cylinder] },
    /// The rider handed the cylinders over.
    Deliver { rider: &'a str },
    /// The customer (or ops) cancels.
    Cancel { note: Option<&'a Note> },
    /// The dispatch desk takes the order from its rider and gives it to
    /// `to`, or back to matching (`None`), before pickup; the rider it had
    /// gets no second chance at it (facts: the named rider, which must be
    /// available with a fresh position, and the order's station).
    Reassign { to: Option<&'a RiderId> },
    /// The queue or the sweeper gave up on `event`.
    DeadLetter(&'a Envelope),
}

/// What the caller loaded for a decision. Which parts an input needs is
/// said at each [`Input`] variant; the rest may be empty.
#[derive(Clone, Copy)]
pub struct Facts<'a> {
    pub stations: &'a [StationCandidate],
    pub riders: &'a [RiderCandidate],
    /// Traffic factor at a point (cached GIS data, else the static map).
    pub traffic: &'a dyn Fn(GeoPoint) -> TrafficFactor,
}

fn free_flow(_: GeoPoint) -> TrafficFactor {
    1.0
}

impl Facts<'static> {
    /// No facts: for inputs that need none (rider commands, cancel, dead letters).
    pub fn none() -> Self {
        Facts {
            stations: &[],
            riders: &[],
            traffic: &free_flow,
        }
    }
}

/// The time of a decision, one fresh unique id (a ULID) from which every
/// id the decision needs is derived (`<id>.1`, `<id>.2`, … for events,
/// `wb-<id>` for a waybill), and who asked for it.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub now: Millis,
    pub id: &'a str,
    /// The caller of an HTTP command (`<role>:<token id>`, e.g.
    /// `ops:ops-desk`), recorded on the timeline entries it causes; `None`
    /// for the saga's own steps.
    pub actor: Option<&'a str>,
}

/// A change the store makes, in the batch of the decision, in list order.
/// Every effect is about the decision's order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A timeline entry (one per transition; `seq` is the new version),
    /// with who caused it when a caller did ([`Stamp::actor`]).
    Timeline {
        seq: i64,
        state: OrderState,
        detail: Option<String>,
        actor: Option<String>,
    },
    /// Pre-lock `items` at `station`, only if the unlocked stock suffices
    /// (otherwise the whole batch fails: no oversell).
    ReserveStock { station: StationId, items: Items },
    /// Return what the order still has locked.
    ReleaseStock,
    /// Locked cylinders leave the station (pickup).
    SettleStock,
    /// The trace codes loaded at pickup.
    RecordPickup { cylinders: Vec<Cylinder> },
    /// Assign `rider`, only if still available (otherwise the batch fails:
    /// no double assignment).
    AssignRider { rider: RiderId },
    /// Free `rider` if still on this order.
    FreeRider { rider: RiderId },
    /// Store the signed waybill and put it in the rider's inbox.
    IssueWaybill {
        waybill_id: String,
        rider: RiderId,
        assignment: u32,
        key_id: String,
        /// The signed waybill JSON, exactly as served.
        document: String,
    },
    /// Mark the order's issued waybill void.
    VoidWaybill { reason: Reason },
    /// Store the signed void record of a voided waybill.
    RecordVoid { waybill_id: String, document: String },
    /// Publish an event (through the outbox).
    Emit(Envelope),
    /// Publish an event no earlier than `at` (deadlines, retries).
    Schedule { event: Envelope, at: Millis },
    /// Give up on an outbox event (dead letter).
    BuryEvent { event_id: String },
}

/// What a decision did, in a word: recorded with the processed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Placed,
    Allocated,
    Assigned,
    RetryScheduled,
    /// A deadline delivered early was put back for the time left.
    Early,
    /// The delivery deadline passed with the cylinders on the road: announced.
    Overdue,
    Signed,
    VoidSigned,
    Progressed(OrderState),
    /// The order was closed (rejected, cancelled, failed) for this reason.
    Closed(Reason),
    /// The signing key is unusable (the order failed); why, for the record.
    SigningFailed(String),
    /// The event is not live: nothing to do.
    Stale,
    /// A command found nothing to change (cancelling a cancelled order).
    Unchanged,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Placed => f.write_str("placed"),
            Outcome::Allocated => f.write_str("allocated"),
            Outcome::Assigned => f.write_str("assigned"),
            Outcome::RetryScheduled => f.write_str("retry_scheduled"),
            Outcome::Early => f.write_str("early"),
            Outcome::Overdue => f.write_str("overdue"),
            Outcome::Signed => f.write_str("signed"),
            Outcome::VoidSigned => f.write_str("void_signed"),
            Outcome::Progressed(state) => f.write_str(state.as_str()),
            Outcome::Closed(reason) => write!(f, "closed: {reason}"),
            Outcome::SigningFailed(why) => write!(f, "failed: {why}"),
            Outcome::Stale => f.write_str("stale"),
            Outcome::Unchanged => f.write_str("unchanged"),
        }
    }
}

/// The result of [`decide`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    order_id: OrderId,
    /// When it was taken (the [`Stamp`]'s time): the time of every row it writes.
    at: Millis,
    /// The version the decision was taken against (0: a new order). The
    /// store writes the order only if it still has this version.
    expected_version: i64,
    /// The order after the decision; `None` when the order row is untouched.
    order: Option<Order>,
    effects: Vec<Effect>,
    outcome: Outcome,
}

impl Decision {
    fn nothing(order: &Order, at: Millis, outcome: Outcome) -> Self {
        Self {
            order_id: order.id.clone(),
            at,
            expected_version: order.version,
            order: None,
            effects: Vec::new(),
            outcome,
        }
    }

    /// Nothing to do about `order`: an event that is no longer live.
    pub fn stale(order: &Order, now: Millis) -> Self {
        Self::nothing(order, now, Outcome::Stale)
    }

    pub fn order_id(&self) -> &OrderId {
        &self.order_id
    }

    pub fn at(&self) -> Millis {
        self.at
    }

    pub fn expected_version(&self) -> i64 {
        self.expected_version
    }

    /// The order as the decision leaves it (`None`: unchanged).
    pub fn order(&self) -> Option<&Order> {
        self.order.as_ref()
    }

    pub fn effects(&self) -> &[Effect] {
        &self.effects
    }

    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Does it change anything at all?
    pub fn is_empty(&self) -> bool {
        self.order.is_none() && self.effects.is_empty()
    }

    /// The events it publishes, with when each is due.
    pub fn events(&self) -> impl Iterator<Item = (&Envelope, Option<Millis>)> {
        self.effects.iter().filter_map(|e| match e {
            Effect::Emit(event) => Some((event, None)),
            Effect::Schedule { event, at } => Some((event, Some(*at))),
            _ => None,
        })
    }
}

/// Which command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Accept,
    Decline,
    Pickup,
    Deliver,
    Cancel,
    Reassign,
}

/// A command that cannot apply to the order as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The order's state does not allow the command now.
    #[error("{}", not_now_text(*command, *state))]
    NotNow { command: Command, state: OrderState },
    /// The caller is not the order's rider.
    #[error("the order is not assigned to this rider")]
    NotAssigned,
    /// The request contradicts the order (pickup cylinders).
    #[error("{0}")]
    Invalid(String),
}

fn not_now_text(command: Command, state: OrderState) -> String {
    match command {
        Command::Cancel => format!("an order that is {} can no longer be cancelled", state.as_str()),
        _ => format!("the order is {}", state.as_str()),
    }
}

// ---------------------------------------------------------------------------
// 4. Deciding
// ---------------------------------------------------------------------------

/// Decides what `input` does to `order`. Pure: the same arguments give the
/// same decision. Saga events always decide (a stale one decides nothing);
/// commands may be refused.
pub fn decide(
    order: &Order,
    input: Input<'_>,
    facts: &Facts<'_>,
    at: &Stamp<'_>,
    config: &Config,
) -> Result<Decision, Refusal> {
    let mut draft = Draft::new(order.0.clone(), order.version, at);
    let outcome = match input {
        Input::Created(event) if order.is_live(event) => allocate(&mut draft, facts, config),
        Input::MatchRetry(event) if order.is_live(event) => {
            let attempt = event.payload.attempt.unwrap_or(1);
            assign_or_retry(&mut draft, attempt, facts, config)
        }
        Input::RiderDeadline(event) if order.is_live(event) => rider_deadline(&mut draft, event, facts, config),
        Input::Sign { event, signer } if order.is_live(event) => sign(&mut draft, signer, facts),
        Input::DeadLetter(event) => {
            draft.effects.push(Effect::BuryEvent {
                event_id: event.id.clone(),
            });
            // A live event fails the order, where anything can still fail
            // it: a delivery deadline given up on leaves the cylinders
            // with their rider.
            if order.is_live(event) && next_state(order.state, OrderEvent::Failed).is_some() {
                close(&mut draft, OrderEvent::Failed, Reason::DeadLetter(event.kind))
            } else {
                return Ok(Decision {
                    order: None,
                    ..draft.finish(Outcome::Stale)
                });
            }
        }
        Input::Created(_) | Input::MatchRetry(_) | Input::RiderDeadline(_) | Input::Sign { .. } => {
            return Ok(Decision::nothing(order, at.now, Outcome::Stale));
        }
        Input::Accept { rider } => {
            assigned(order, rider)?;
            progress(&mut draft, Command::Accept, OrderEvent::RiderAccepted, rider)?;
            draft.order.accept_deadline = None;
            draft.emit(EventType::OrderAccepted, rider_payload(order));
            start_deadline(&mut draft, Deadline::Pickup, config.pickup_timeout_ms);
            Outcome::Progressed(OrderState::Accepted)
        }
        Input::Decline { rider } => {
            assigned(order, rider)?;
            if next_state(order.state, OrderEvent::RiderDeclined).is_none() {
                return Err(Refusal::NotNow {
                    command: Command::Decline,
                    state: order.state,
                });
            }
            rider_dropped_out(
                &mut draft,
                OrderEvent::RiderDeclined,
                Reason::RiderDeclined,
                Search::Later,
                config,
            )
        }
        Input::Pickup { rider, cylinders } => {
            check_pickup(&order.items, cylinders)?;
            assigned(order, rider)?;
            if order.state == OrderState::Accepted && !loading_allowed(order, facts, draft.now, config) {
                // Safety first: nothing is loaded, everything is undone, and
                // the rider's answer says the order is rejected.
                let outcome = close(
                    &mut draft,
                    OrderEvent::Rejected,
                    Reason::Rejected(Rejection::NightSafety),
                );
                return Ok(draft.finish(outcome));
            }
            progress(&mut draft, Command::Pickup, OrderEvent::PickedUp, rider)?;
            draft.effects.push(Effect::SettleStock);
            draft.effects.push(Effect::RecordPickup {
                cylinders: cylinders.to_vec(),
            });
            draft.emit(EventType::OrderPickedUp, rider_payload(order));
            start_deadline(&mut draft, Deadline::Delivery, config.delivery_timeout_ms);
            Outcome::Progressed(OrderState::PickedUp)
        }
        Input::Deliver { rider } => {
            assigned(order, rider)?;
            progress(&mut draft, Command::Deliver, OrderEvent::Delivered, rider)?;
            draft.order.due_by = None;
            if let Some(r) = order.rider_id.clone() {
                draft.effects.push(Effect::FreeRider { rider: r });
            }
            draft.emit(EventType::OrderDelivered, rider_payload(order));
            Outcome::Progressed(OrderState::Delivered)
        }
        Input::Reassign { to } => return reassign(order, draft, to, facts, config),
        Input::Cancel { .. } if order.state == OrderState::Cancelled => {
            return Ok(Decision::nothing(order, at.now, Outcome::Unchanged));
        }
        Input::Cancel { note } => {
            if next_state(order.state, OrderEvent::Cancelled).is_none() {
                return Err(Refusal::NotNow {
                    command: Command::Cancel,
                    state: order.state,
                });
            }
            let reason = note.map_or(Reason::CancelledByCustomer, |n| Reason::Cancelled(n.clone()));
            close(&mut draft, OrderEvent::Cancelled, reason)
        }
    };
    Ok(draft.finish(outcome))
}

/// Signs the void record of a voided waybill of `order`. Not an order
/// change: the order row is untouched.
pub fn sign_void_record(order: &Order, waybill: &VoidedWaybill, signer: &WaybillSigner, now: Millis) -> Decision {
    let record = VoidRecord {
        format: VOID_FORMAT_V1.to_owned(),
        waybill_id: waybill.id.clone(),
        order_id: order.id.clone(),
        reason: waybill.reason.clone(),
        voided_at: rfc3339(waybill.voided_at.unwrap_or(now)),
    };
    let document = serde_json::to_string(&signer.sign_void(&record)).expect("a signed void record serializes");
    Decision {
        effects: vec![Effect::RecordVoid {
            waybill_id: waybill.id.clone(),
            document,
        }],
        ..Decision::nothing(order, now, Outcome::VoidSigned)
    }
}

/// Brings an in-memory view of the facts up to date with `decision`, taken
/// about `before`: stock it reserves or releases, riders it assigns or
/// frees. Matching decides the orders of one queue batch against one view,
/// so two orders of a batch never want the same rider or the last cylinder.
pub fn update_facts(
    before: &Order,
    decision: &Decision,
    stations: &mut [StationCandidate],
    riders: &mut [RiderCandidate],
) {
    let mut change_stock = |station: &StationId, items: &Items, reserve: bool| {
        if let Some(s) = stations.iter_mut().find(|s| s.id == *station) {
            for item in items.as_slice() {
                let q = item.quantity.get();
                match s.available.iter_mut().find(|(spec, _)| *spec == item.spec) {
                    Some((_, n)) if reserve => *n = n.saturating_sub(q),
                    Some((_, n)) => *n += q,
                    None if !reserve => s.available.push((item.spec, q)),
                    None => {}
                }
            }
        }
    };
    for effect in decision.effects() {
        match effect {
            Effect::ReserveStock { station, items } => change_stock(station, items, true),
            Effect::ReleaseStock => {
                if let Some(station) = &before.station_id {
                    change_stock(station, &before.items, false);
                }
            }
            Effect::AssignRider { rider } | Effect::FreeRider { rider } => {
                let free = matches!(effect, Effect::FreeRider { .. });
                if let Some(r) = riders.iter_mut().find(|r| r.id == *rider) {
                    r.available = free;
                }
            }
            _ => {}
        }
    }
}

/// A voided waybill still waiting for its signed void record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoidedWaybill {
    pub id: String,
    pub reason: String,
    pub voided_at: Option<Millis>,
}

/// The rules of pickup: each trace code once, and exactly the order's
/// cylinders, spec by spec.
pub fn check_pickup(items: &Items, cylinders: &[Cylinder]) -> Result<(), Refusal> {
    let mut codes: Vec<&str> = cylinders.iter().map(|c| c.trace_code.as_str()).collect();
    codes.sort_unstable();
    if codes.windows(2).any(|w| w[0] == w[1]) {
        return Err(Refusal::Invalid("cylinders: each trace code may appear once".into()));
    }
    for item in items.as_slice() {
        let n = cylinders.iter().filter(|c| c.spec == item.spec).count();
        if u32::try_from(n).ok() != Some(item.quantity.get()) {
            return Err(Refusal::Invalid(format!(
                "cylinders: the order has {} × {}, the pickup lists {n}",
                item.quantity.get(),
                item.spec
            )));
        }
    }
    if cylinders.len() != usize::try_from(items.total_cylinders()).unwrap_or(0) {
        return Err(Refusal::Invalid(
            "cylinders: the pickup lists specs the order does not have".into(),
        ));
    }
    Ok(())
}

fn assigned(order: &Order, rider: &str) -> Result<(), Refusal> {
    if order.is_assigned_to(rider) {
        Ok(())
    } else {
        Err(Refusal::NotAssigned)
    }
}

fn rider_payload(order: &Order) -> Payload {
    Payload {
        rider_id: order.rider_id.clone(),
        ..Payload::default()
    }
}

/// A rider command's transition, or why not now.
fn progress(draft: &mut Draft<'_>, command: Command, event: OrderEvent, rider: &str) -> Result<(), Refusal> {
    let state = draft.order.state;
    draft
        .transition(event, Some(rider.to_owned()))
        .map_err(|()| Refusal::NotNow { command, state })
}

/// `order.created`: the best station with stock and, when one is free, its
/// rider — or a rejection saying which rule left no station.
fn allocate(draft: &mut Draft<'_>, facts: &Facts<'_>, config: &Config) -> Outcome {
    let conditions = Conditions {
        traffic: facts.traffic,
        now: draft.now,
        config,
    };
    let o = &draft.order;
    let chosen = choose(
        o.customer.location,
        &o.items,
        facts.stations,
        facts.riders,
        &o.excluded_riders,
        &conditions,
    );
    let chosen = match chosen {
        Err(rejection) => return close(draft, OrderEvent::Rejected, Reason::Rejected(rejection)),
        Ok(chosen) => chosen,
    };
    // Step 1: reserve stock.
    draft.step(OrderEvent::SourceAllocated, Some(chosen.station.to_string()));
    draft.order.station_id = Some(chosen.station.clone());
    draft.effects.push(Effect::ReserveStock {
        station: chosen.station.clone(),
        items: draft.order.items.clone(),
    });
    let payload = Payload {
        station_id: Some(chosen.station),
        ..Payload::default()
    };
    draft.emit(EventType::SourceAllocated, payload);
    // Step 2: assign the rider, or look again later.
    match chosen.rider {
        Some(rider) => assign(draft, rider, config),
        None => schedule_retry(draft, 1, config),
    }
    Outcome::Allocated
}

/// Step 2: assign `rider`; the acceptance deadline is a delayed event.
fn assign(draft: &mut Draft<'_>, rider: RiderId, config: &Config) {
    draft.step(OrderEvent::RiderAssigned, Some(rider.to_string()));
    draft.order.rider_id = Some(rider.clone());
    draft.order.assignment += 1;
    draft.order.accept_deadline = Some(draft.now + config.accept_timeout_ms);
    draft.effects.push(Effect::AssignRider { rider: rider.clone() });
    let payload = Payload {
        rider_id: Some(rider),
        station_id: draft.order.station_id.clone(),
        assignment: Some(draft.order.assignment),
        ..Payload::default()
    };
    draft.emit(EventType::RiderAssigned, payload.clone());
    // Its consumer ignores it if the rider accepted in time.
    draft.schedule(EventType::RiderTimedOut, payload, config.accept_timeout_ms);
}

fn schedule_retry(draft: &mut Draft<'_>, attempt: u32, config: &Config) {
    let payload = Payload {
        attempt: Some(attempt),
        station_id: draft.order.station_id.clone(),
        ..Payload::default()
    };
    draft.schedule(
        EventType::MatchRetry,
        payload,
        i64::from(config.match_retry_delay_s) * 1000,
    );
}

/// Assigns the best free rider near the order's station, or schedules
/// another look, or — past the retry limit — rejects the order. `attempt`
/// is how many delayed retries have run (0 for a fresh search).
fn assign_or_retry(draft: &mut Draft<'_>, attempt: u32, facts: &Facts<'_>, config: &Config) -> Outcome {
    let Some(station_id) = draft.order.station_id.clone() else {
        return close(draft, OrderEvent::Failed, Reason::Terminal("no station".into()));
    };
    let Some(station) = facts.stations.iter().find(|s| s.id == station_id) else {
        return close(
            draft,
            OrderEvent::Failed,
            Reason::Terminal(format!("station {station_id} is gone")),
        );
    };
    let conditions = Conditions {
        traffic: facts.traffic,
        now: draft.now,
        config,
    };
    let best = rank_riders(
        station.location,
        facts.riders,
        &draft.order.excluded_riders,
        &conditions,
    )
    .first()
    .map(|(r, _)| r.id.clone());
    match best {
        Some(rider) => {
            assign(draft, rider, config);
            Outcome::Assigned
        }
        None if attempt < config.max_match_retries => {
            schedule_retry(draft, attempt + 1, config);
            Outcome::RetryScheduled
        }
        None => close(draft, OrderEvent::Rejected, Reason::Rejected(Rejection::NoRider)),
    }
}

/// `rider.timed_out`: the deadline its payload names passed. Delivered
/// early (a queue that ignores delays, clock skew), it is put back for the
/// time left rather than spent or dropped. Past the acceptance or pickup
/// deadline the rider drops out and matching looks for the next one at once;
/// past the delivery deadline the order is announced overdue, once, and
/// stays with its rider.
fn rider_deadline(draft: &mut Draft<'_>, event: &Envelope, facts: &Facts<'_>, config: &Config) -> Outcome {
    let kind = event.payload.deadline.unwrap_or(Deadline::Accept);
    let deadline = match kind {
        Deadline::Accept => draft.order.accept_deadline,
        Deadline::Pickup | Deadline::Delivery => draft.order.due_by,
    };
    if deadline.is_none_or(|d| d > draft.now) {
        let left = deadline.map_or(0, |d| d - draft.now);
        draft.schedule(EventType::RiderTimedOut, event.payload.clone(), left);
        return Outcome::Early;
    }
    let (dropout, void_reason) = match kind {
        Deadline::Accept => (OrderEvent::RiderTimedOut, Reason::RiderTimeout),
        Deadline::Pickup => (OrderEvent::PickupMissed, Reason::PickupMissed),
        Deadline::Delivery => {
            let payload = Payload {
                rider_id: draft.order.rider_id.clone(),
                station_id: draft.order.station_id.clone(),
                ..Payload::default()
            };
            draft.emit(EventType::DeliveryOverdue, payload);
            return Outcome::Overdue;
        }
    };
    rider_dropped_out(draft, dropout, void_reason, Search::Now(facts), config)
}

/// Where the next rider comes from after one drops out.
enum Search<'f, 'a> {
    /// Matching has the facts: assign the next rider in the same decision.
    Now(&'f Facts<'a>),
    /// A rider command has none: hand the search to matching (a
    /// `match.retry` due at once, with the full number of retries).
    Later,
}

/// Starts the rider's clock for `deadline`: `due_by` and the
/// `rider.timed_out` that checks it.
fn start_deadline(draft: &mut Draft<'_>, deadline: Deadline, after_ms: Millis) {
    draft.order.due_by = Some(draft.now + after_ms);
    let payload = Payload {
        rider_id: draft.order.rider_id.clone(),
        station_id: draft.order.station_id.clone(),
        assignment: Some(draft.order.assignment),
        deadline: Some(deadline),
        ..Payload::default()
    };
    draft.schedule(EventType::RiderTimedOut, payload, after_ms);
}

/// The night rule again at loading time (allocation checked it when the
/// order was placed; the night may have begun since). Without the
/// station's row the station counts as unmonitored.
fn loading_allowed(order: &Order, facts: &Facts<'_>, now: Millis, config: &Config) -> bool {
    let station = facts.stations.iter().find(|s| Some(&s.id) == order.station_id.as_ref());
    match station {
        Some(station) => night_rule_allows(station, now, config),
        None => !config.is_night_at(now),
    }
}

/// The assigned rider timed out, declined or missed the pickup: past the
/// limit the order fails; otherwise the rider is freed and excluded, the
/// waybill voided, the stock kept, and the next rider searched for.
fn rider_dropped_out(
    draft: &mut Draft<'_>,
    event: OrderEvent,
    void_reason: Reason,
    search: Search<'_, '_>,
    config: &Config,
) -> Outcome {
    let rider = draft.order.rider_id.clone();
    if draft.order.rider_timeouts + 1 >= config.max_rider_timeouts {
        let outcome = close(draft, OrderEvent::Failed, Reason::RiderTimeoutLimit);
        // Keep the excluded list complete for the record.
        draft.order.excluded_riders.extend(rider);
        draft.order.rider_timeouts += 1;
        return outcome;
    }
    release_rider(draft, event, &void_reason);
    draft.order.rider_timeouts += 1;
    match search {
        // A fresh search: the full number of retries is available again.
        Search::Now(facts) => assign_or_retry(draft, 0, facts, config),
        Search::Later => search_later(draft),
    }
}

/// Takes the order from its rider by `event` (back to `source_allocated`):
/// the rider's compensations run (waybill voided for `void_reason`, rider
/// freed) and the rider is not tried on this order again.
fn release_rider(draft: &mut Draft<'_>, event: OrderEvent, void_reason: &Reason) {
    let rider = draft.order.rider_id.clone();
    let list = rider_dropout_compensations(draft.order.state);
    draft.step(event, rider.as_ref().map(ToString::to_string));
    compensate(draft, &list, void_reason);
    if let Some(rider) = rider.filter(|r| !draft.order.excluded_riders.contains(r)) {
        draft.order.excluded_riders.push(rider);
    }
    draft.order.rider_id = None;
    draft.order.waybill_id = None;
}

/// Hands the search for a rider to matching: a `match.retry` due at once,
/// with the full number of retries.
fn search_later(draft: &mut Draft<'_>) -> Outcome {
    let payload = Payload {
        attempt: Some(0),
        station_id: draft.order.station_id.clone(),
        ..Payload::default()
    };
    draft.emit(EventType::MatchRetry, payload);
    Outcome::RetryScheduled
}

/// [`Input::Reassign`]: the current rider (if any) dropped as for a
/// decline, but not counted against `max_rider_timeouts` (the desk, not
/// the rider, decided), then the named rider assigned in the same
/// decision, or the search handed to matching.
fn reassign(
    order: &Order,
    mut draft: Draft<'_>,
    to: Option<&RiderId>,
    facts: &Facts<'_>,
    config: &Config,
) -> Result<Decision, Refusal> {
    let not_now = || Refusal::NotNow {
        command: Command::Reassign,
        state: order.state,
    };
    if let Some(to) = to {
        if order.rider_id.as_ref() == Some(to) {
            return Err(Refusal::Invalid(format!("the order is with {to} already")));
        }
        let fresh_since = draft.now - config.rider_location_max_age_ms;
        let free = facts
            .riders
            .iter()
            .any(|r| r.id == *to && r.available && r.located_at >= fresh_since);
        if !free {
            return Err(Refusal::Invalid(format!(
                "rider {to} is not available with a fresh position"
            )));
        }
    }
    match order.state {
        OrderState::SourceAllocated if to.is_none() => {
            return Ok(Decision::nothing(order, draft.now, Outcome::Unchanged));
        }
        OrderState::SourceAllocated => {}
        state if next_state(state, OrderEvent::Reassigned).is_some() => {
            release_rider(&mut draft, OrderEvent::Reassigned, &Reason::Reassigned);
        }
        _ => return Err(not_now()),
    }
    let outcome = match to {
        Some(to) => {
            draft.order.excluded_riders.retain(|r| r != to);
            assign(&mut draft, to.clone(), config);
            Outcome::Assigned
        }
        None => search_later(&mut draft),
    };
    Ok(draft.finish(outcome))
}

/// Step 3 (`rider.assigned`): build the waybill, sign it, put it in the
/// rider's inbox — or fail the order when there is no usable key or the
/// station or rider row is gone.
fn sign(draft: &mut Draft<'_>, signer: Result<&WaybillSigner, &str>, facts: &Facts<'_>) -> Outcome {
    let signer = match signer {
        Ok(signer) => signer,
        Err(why) => {
            close(draft, OrderEvent::Failed, Reason::SigningFailed);
            return Outcome::SigningFailed(why.to_owned());
        }
    };
    let o = &draft.order;
    let (Some(station_id), Some(rider_id)) = (o.station_id.clone(), o.rider_id.clone()) else {
        return close(
            draft,
            OrderEvent::Failed,
            Reason::Terminal("no station or rider".into()),
        );
    };
    let Some(station) = facts.stations.iter().find(|s| s.id == station_id) else {
        let why = format!("station {station_id} is gone");
        return close(draft, OrderEvent::Failed, Reason::Terminal(why));
    };
    let Some(rider) = facts.riders.iter().find(|r| r.id == rider_id) else {
        let why = format!("rider {rider_id} is gone");
        return close(draft, OrderEvent::Failed, Reason::Terminal(why));
    };
    let waybill_id = format!("wb-{}", draft.id);
    let waybill = Waybill {
        format: FORMAT_V1.to_owned(),
        waybill_id: waybill_id.clone(),
        order_id: o.id.clone(),
        issued_at: rfc3339(draft.now),
        accept_by: rfc3339(o.accept_deadline.unwrap_or(draft.now)),
        station: WaybillStation {
            id: station.id.clone(),
            name: station.name.clone(),
            location: station.location,
        },
        rider: WaybillRider {
            id: rider.id.clone(),
            name: rider.name.clone(),
        },
        consignee: Consignee {
            name: o.customer.name.clone(),
            phone: o.customer.phone.clone(),
            address: o.customer.address.clone(),
            location: o.customer.location,
        },
        items: o.items.clone(),
        note: o.note.clone(),
    };
    let document = serde_json::to_string(&signer.sign_waybill(&waybill)).expect("a signed waybill serializes");
    let assignment = o.assignment;
    draft.step(OrderEvent::WaybillSigned, Some(waybill_id.clone()));
    draft.order.waybill_id = Some(waybill_id.clone());
    draft.effects.push(Effect::IssueWaybill {
        waybill_id: waybill_id.clone(),
        rider: rider_id.clone(),
        assignment,
        key_id: signer.key_id().to_owned(),
        document,
    });
    let payload = Payload {
        waybill_id: Some(waybill_id),
        rider_id: Some(rider_id),
        ..Payload::default()
    };
    draft.emit(EventType::WaybillSigned, payload);
    Outcome::Signed
}

/// Ends the order with `event` (rejected, cancelled, failed): undoes every
/// completed step newest first, records the reason, and announces it.
fn close(draft: &mut Draft<'_>, event: OrderEvent, reason: Reason) -> Outcome {
    let list = compensations(draft.order.state);
    draft.step(event, Some(reason.to_string()));
    compensate(draft, &list, &reason);
    draft.order.reason = Some(reason.clone());
    let kind = match event {
        OrderEvent::Rejected => EventType::OrderRejected,
        OrderEvent::Cancelled => EventType::OrderCancelled,
        _ => EventType::OrderFailed,
    };
    let payload = Payload {
        reason: Some(reason.to_string()),
        ..Payload::default()
    };
    draft.emit(kind, payload);
    Outcome::Closed(reason)
}

/// The effects of each compensation, in list order.
fn compensate(draft: &mut Draft<'_>, list: &[Compensation], reason: &Reason) {
    for compensation in list {
        match compensation {
            Compensation::ReleaseStock => draft.effects.push(Effect::ReleaseStock),
            Compensation::FreeRider => {
                if let Some(rider) = draft.order.rider_id.clone() {
                    draft.effects.push(Effect::FreeRider { rider });
                }
                draft.order.accept_deadline = None;
                draft.order.due_by = None;
            }
            Compensation::VoidWaybill => {
                draft.effects.push(Effect::VoidWaybill { reason: reason.clone() });
                let payload = Payload {
                    waybill_id: draft.order.waybill_id.clone(),
                    reason: Some(reason.to_string()),
                    ..Payload::default()
                };
                draft.emit(EventType::WaybillVoided, payload);
            }
        }
    }
}

/// A decision being built: the order as it will be, and the effects so far.
struct Draft<'a> {
    expected_version: i64,
    order: OrderFields,
    now: Millis,
    id: &'a str,
    actor: Option<&'a str>,
    events: u32,
    effects: Vec<Effect>,
}

impl<'a> Draft<'a> {
    fn new(mut order: OrderFields, expected_version: i64, at: &Stamp<'a>) -> Self {
        order.updated_at = at.now;
        Self {
            expected_version,
            order,
            now: at.now,
            id: at.id,
            actor: at.actor,
            events: 0,
            effects: Vec::new(),
        }
    }

    /// Moves the order by `event`: new version, timeline entry.
    fn transition(&mut self, event: OrderEvent, detail: Option<String>) -> Result<(), ()> {
        let to = next_state(self.order.state, event).ok_or(())?;
        self.order.state = to;
        self.order.version += 1;
        self.effects.push(Effect::Timeline {
            seq: self.order.version,
            state: to,
            detail,
            actor: self.actor.map(str::to_owned),
        });
        Ok(())
    }

    /// A transition the saga's own logic guarantees is allowed.
    fn step(&mut self, event: OrderEvent, detail: Option<String>) {
        let from = self.order.state;
        self.transition(event, detail)
            .unwrap_or_else(|()| unreachable!("the saga never moves a {from:?} order by {event:?}"));
    }

    fn envelope(&mut self, kind: EventType, payload: Payload) -> Envelope {
        self.events += 1;
        Envelope {
            id: format!("{}.{}", self.id, self.events),
            kind,
            order_id: self.order.id.clone(),
            seq: u64::try_from(self.order.version).unwrap_or(0),
            at: self.now,
            traceparent: self.order.traceparent.clone(),
            payload,
        }
    }

    fn emit(&mut self, kind: EventType, payload: Payload) {
        let event = self.envelope(kind, payload);
        self.effects.push(Effect::Emit(event));
    }

    fn schedule(&mut self, kind: EventType, payload: Payload, delay_ms: Millis) {
        let event = self.envelope(kind, payload);
        let at = self.now + delay_ms.max(0);
        self.effects.push(Effect::Schedule { event, at });
    }

    fn finish(self, outcome: Outcome) -> Decision {
        debug_assert_eq!(check(&self.order), Ok(()), "decide broke an invariant");
        Decision {
            order_id: self.order.id.clone(),
            at: self.now,
            expected_version: self.expected_version,
            order: Some(Order(self.order)),
            effects: self.effects,
            outcome,
        }
    }
}

#[cfg(test)]
mod tests;
